"""What stored records keep of conversations (`logging.redact`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..store import InteractionRecord

Redactor = Callable[[InteractionRecord], None]


def make_redactor(mode: str) -> Redactor | None:
    """None keeps everything; `drop` keeps no text; `pii` masks what the PII patterns find."""
    if mode == "none":
        return None
    if mode == "drop":
        return _drop
    if mode == "pii":
        from ..safety import mask_pii  # the PII patterns live with the scorers

        return lambda record: _mask(record, mask_pii)
    raise ValueError(f"logging.redact: unknown mode {mode!r}")


def _drop(record: InteractionRecord) -> None:
    record.request_messages = None
    record.response_text = ""


def _mask(record: InteractionRecord, mask: Callable[[str], str]) -> None:
    record.response_text = mask(record.response_text)
    if record.request_messages:
        record.request_messages = [_mask_message(m, mask) for m in record.request_messages]


def _mask_message(message: dict[str, Any], mask: Callable[[str], str]) -> dict[str, Any]:
    content = message.get("content")
    if isinstance(content, str):
        return {**message, "content": mask(content)}
    if isinstance(content, list):
        parts = [
            {**p, "text": mask(p["text"])}
            if isinstance(p, dict) and isinstance(p.get("text"), str)
            else p
            for p in content
        ]
        return {**message, "content": parts}
    return message
