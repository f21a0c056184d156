"""What an interaction looks like outside the store: masked per `logging.redact`,
flattened for JSONL and CSV.

Stored records were already redacted by the writer with the setting of the
day; the view applies the current setting again, so a store written with
`redact: none` is still shown masked when the config now says `pii`, and
evidence that quotes the text (a bias sentence, a refusal phrase, scorer
terms) follows the same rule as the text.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Mapping
from typing import IO, Any

import orjson

from ._logs import iso, prompt_of

REDACT_MODES = ("none", "pii", "drop")
# Evidence keys whose values quote the prompt or the answer.
_QUOTING_KEYS = frozenset({"sentence", "phrase", "terms", "trait"})
CSV_COLUMNS = (
    "request_id",
    "time",
    "version",
    "endpoint",
    "status_code",
    "latency_ms",
    "ttft_ms",
    "stream",
    "shadow",
    "session_id",
    "error_kind",
    "retried_from",
    "rollout_step",
    "flags",
    "categories",
    "scores",
    "prompt",
    "response",
    "evidence",
)


class Presenter:
    """Turns stored rows into the dicts `logs` prints and exports."""

    def __init__(self, redact: str) -> None:
        if redact not in REDACT_MODES:
            raise ValueError(f"redact must be one of {', '.join(REDACT_MODES)}, got {redact!r}")
        self.redact = redact
        self._mask: Callable[[str], str] | None = None
        if redact == "pii":
            from ..safety import mask_pii

            self._mask = mask_pii

    def text(self, value: str | None) -> str | None:
        if value is None or self.redact == "none":
            return value
        if self.redact == "drop":
            return None
        assert self._mask is not None
        return self._mask(value)

    def messages(self, messages: Any) -> list[dict[str, Any]] | None:
        if not isinstance(messages, list) or self.redact == "drop":
            return None
        out = []
        for m in messages:
            if not isinstance(m, Mapping):
                continue
            content = m.get("content")
            if isinstance(content, str):
                content = self.text(content)
            elif isinstance(content, list):
                content = [
                    {**p, "text": self.text(p["text"])}
                    if isinstance(p, Mapping) and isinstance(p.get("text"), str)
                    else p
                    for p in content
                ]
            out.append({**m, "content": content})
        return out

    def evidence(self, value: Any, key: str = "") -> Any:
        if self.redact == "none":
            return value
        if isinstance(value, Mapping):
            return {
                k: self.evidence(v, k)
                for k, v in value.items()
                if not (self.redact == "drop" and k in _QUOTING_KEYS)
            }
        if isinstance(value, list):
            return [self.evidence(v, key) for v in value]
        if isinstance(value, str) and key in _QUOTING_KEYS:
            return self.text(value)
        return value

    def view(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """One interaction for people and files; the field order is the reading order."""
        messages = self.messages(row.get("request_messages"))
        return {
            "request_id": row["request_id"],
            "time": iso(row["created_at"]),
            "created_at": row["created_at"],
            "version": row["version"],
            "endpoint": row["endpoint"],
            "status_code": row["status_code"],
            "latency_ms": round(float(row["latency_ms"]), 3),
            "ttft_ms": None if row.get("ttft_ms") is None else round(float(row["ttft_ms"]), 3),
            "stream": bool(row.get("stream")),
            "shadow": bool(row.get("shadow")),
            "session_id": row.get("session_id"),
            "error_kind": row.get("error_kind"),
            "retried_from": row.get("retried_from"),
            "rollout_step": row.get("rollout_step"),
            "prompt_tokens": row.get("prompt_tokens"),
            "completion_tokens": row.get("completion_tokens"),
            "scored": row.get("scored_at") is not None,
            "flags": list(row.get("flags") or ()),
            "categories": list(row.get("categories") or ()),
            "scores": row.get("scores") or {},
            "evidence": self.evidence(row.get("evidence") or {}),
            "prompt": prompt_of(messages) if messages is not None else None,
            "messages": messages,
            "response": self.text(row.get("response_text") or ""),
            "extra": row.get("extra") or {},
        }


def write_jsonl(views: Iterable[Mapping[str, Any]], out: IO[str]) -> int:
    n = 0
    for view in views:
        out.write(orjson.dumps(view).decode() + "\n")
        n += 1
    return n


def write_csv(views: Iterable[Mapping[str, Any]], out: IO[str]) -> int:
    """One row per interaction; lists are `;`-joined, scores and evidence are JSON."""
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    n = 0
    for view in views:
        row = dict(view)
        row["flags"] = ";".join(view["flags"])
        row["categories"] = ";".join(view["categories"])
        row["scores"] = orjson.dumps(view["scores"]).decode()
        row["evidence"] = orjson.dumps(view["evidence"]).decode()
        for key in ("prompt", "response"):
            row[key] = "" if view[key] is None else view[key]
        writer.writerow(row)
        n += 1
    return n
