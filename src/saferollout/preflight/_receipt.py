"""Receipts: the stored outcome of a preflight run, bound to the candidate's config hash.

`serve` looks for a passed receipt whose `version_hash` equals the hash of the
candidate's current configuration (`config.version_hash`): its server entry and
the safety settings. Any change of those needs a new preflight.
"""

from __future__ import annotations

from typing import Any

from saferollout.config import RolloutConfig
from saferollout.store import Store

from ._runner import PreflightResult


def receipt_summary(result: PreflightResult) -> dict[str, Any]:
    """What a receipt keeps: hashes of what was run, when, and the results in brief."""
    d = result.data
    cand = d.get("candidate")
    values = (d.get("metrics") or {}).get(cand, {}).get("values", {})
    return {
        "passed": result.passed,
        "config_hash": d.get("config_hash"),
        "version_hash": d.get("version_hash"),
        "stable": d.get("stable"),
        "suites": d.get("suites"),
        "findings_file": d.get("findings_file"),
        "limit": d.get("limit"),
        "started_at": d.get("started_at"),
        "finished_at": d.get("finished_at"),
        "values": values,
        "failed_checks": [c.name for c in result.checks if not c.ok],
    }


def save_receipt(store: Store, config: RolloutConfig, result: PreflightResult) -> int:
    """Store the run's receipt (passed or not); returns its id."""
    return store.save_receipt(
        rollout=config.name,
        version=config.candidate,
        version_hash=str(result.data["version_hash"]),
        passed=result.passed,
        data=receipt_summary(result),
    )
