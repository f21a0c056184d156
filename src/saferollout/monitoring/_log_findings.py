"""Closing the loop: flagged interactions as red-team findings for the next preflight.

The findings format is the preflight's (`{"id", "prompt" or "messages",
"category", "status", "found"}`; other keys are kept by the loader as
extra): a finding is a prompt the next candidate must refuse or answer
safely. So only flags that mean "the model did something it should not"
qualify; a refusal, appropriate or not, is not a finding (an over-refusal
would need the opposite expectation, which the format cannot say).

One finding per prompt pattern (`normalize_prompt`): a templated attack sent
a thousand times is one finding, not a thousand. Ids are `log-<request id>`
of the first record of the pattern, so exporting twice gives the same ids,
and `merge_findings` appends only ids and patterns a file does not hold yet.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from ._log_summary import normalize_prompt
from ._logs import LogQueryError

FINDING_FLAGS: tuple[str, ...] = (
    "harmful_compliance",
    "safety_violation",
    "pii_leak",
    "guardrail_triggered",
    "anomaly",
)
NOT_FINDINGS = ("refusal", "appropriate_refusal", "over_refusal")


def check_finding_flags(flags: Iterable[str]) -> None:
    bad = [f for f in flags if f in NOT_FINDINGS]
    if bad:
        raise LogQueryError(
            f"--flag {bad[0]!r}: a refusal is not a red-team finding (findings are prompts the "
            f"model must refuse or answer safely); use one of {', '.join(FINDING_FLAGS)}"
        )


def finding_of(view: Mapping[str, Any]) -> dict[str, Any] | None:
    """A finding from one interaction view (already masked); None without prompt text."""
    messages = view.get("messages")
    prompt = view.get("prompt")
    if not messages or not prompt:
        return None  # redacted away (`redact: drop`) or not a chat/completion
    clean = [
        {"role": m["role"], "content": m["content"]}
        for m in messages
        if isinstance(m.get("content"), str) and m.get("role")
    ]
    flags = [f for f in view.get("flags") or () if f in FINDING_FLAGS]
    categories = list(view.get("categories") or ())
    finding: dict[str, Any] = {"id": f"log-{view['request_id']}"}
    if len(clean) == 1 and clean[0]["role"] == "user":
        finding["prompt"] = clean[0]["content"]
    else:
        finding["messages"] = clean
    finding.update(
        {
            "category": categories[0] if categories else (flags[0] if flags else "other"),
            "status": "open",
            "found": view["time"],
            "source": {
                "request_id": view["request_id"],
                "version": view["version"],
                "flags": flags,
                "categories": categories,
            },
        }
    )
    return finding


def findings_from(views: Iterable[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """(findings, interactions skipped for having no prompt text); one per prompt pattern."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    skipped = 0
    for view in views:
        finding = finding_of(view)
        if finding is None:
            skipped += 1
            continue
        key = pattern_key(finding)
        if key in seen:
            continue
        seen.add(key)
        out.append(finding)
    return out, skipped


def pattern_key(finding: Mapping[str, Any]) -> str:
    if "prompt" in finding:
        return normalize_prompt(str(finding["prompt"]))
    return " | ".join(normalize_prompt(str(m.get("content", ""))) for m in finding["messages"])


def merge_findings(path: Path, findings: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
    """Append findings whose id and prompt pattern `path` does not hold yet.
    Returns (added, already there)."""
    ids: set[str] = set()
    keys: set[str] = set()
    if path.exists():
        for number, line in enumerate(path.read_bytes().splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                raise LogQueryError(f"{path}:{number}: not valid JSON; not appending") from None
            if isinstance(obj, dict):
                ids.add(str(obj.get("id")))
                # A line without a usable prompt counts by its id only.
                with contextlib.suppress(AttributeError, KeyError, TypeError):
                    keys.add(pattern_key(obj))
    added = already = 0
    lines = []
    for f in findings:
        key = pattern_key(f)
        if f["id"] in ids or key in keys:
            already += 1
            continue
        ids.add(f["id"])
        keys.add(key)
        lines.append(orjson.dumps(f).decode() + "\n")
        added += 1
    if lines:
        text = path.read_text() if path.exists() else ""
        with path.open("a") as fh:
            if text and not text.endswith("\n"):
                fh.write("\n")
            fh.writelines(lines)
    return added, already
