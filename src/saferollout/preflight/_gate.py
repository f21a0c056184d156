"""The gate: may `serve` start a rollout of this candidate configuration?

Yes with a passed receipt for the candidate's current `version_hash`; no
otherwise, unless forced, which is recorded in the audit log (event
`preflight_forced`, actor `cli`) and so shown with the other events on the
dashboard. `serve` and the tests share this one function.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from saferollout.config import RolloutConfig, version_hash
from saferollout.store import Store


@dataclass(frozen=True, slots=True)
class GateDecision:
    allowed: bool
    forced: bool
    version_hash: str
    message: str
    receipt: dict[str, Any] | None = None


def check_gate(
    config: RolloutConfig, store: Store, *, force: bool = False, actor: str = "cli"
) -> GateDecision:
    """Decide, and record a forced start in the audit log."""
    vh = version_hash(config, config.candidate)
    receipt = store.latest_receipt(config.name, config.candidate, vh)
    if receipt is not None:
        return GateDecision(
            True,
            False,
            vh,
            f"preflight receipt {receipt['id']} for {config.candidate} (config {vh[:12]}) found",
            receipt,
        )
    last = store.latest_receipt(config.name, config.candidate, vh, passed_only=False)
    why = (
        "its last preflight for this configuration failed"
        if last is not None
        else "no preflight passed for this configuration"
    )
    if force:
        message = (
            f"rollout of {config.candidate} (config {vh[:12]}) started without preflight "
            f"({why}): forced with --force-without-preflight"
        )
        store.append_event(
            config.name,
            "preflight_forced",
            message,
            actor=actor,
            data={"candidate": config.candidate, "version_hash": vh, "reason": why},
        )
        return GateDecision(True, True, vh, message)
    return GateDecision(
        False,
        False,
        vh,
        f"no passed preflight receipt for candidate {config.candidate!r} with config hash "
        f"{vh} ({why}); run `saferollout preflight -c <rollout.yaml>` first, or start with "
        "--force-without-preflight (recorded in the audit log)",
    )
