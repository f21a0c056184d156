"""Reading the answer text and token counts out of upstream bodies.

Runs in the record writer's thread, not on the request path: the gateway
keeps the raw bytes and moves on.
"""

from __future__ import annotations

from typing import Any

import orjson


def from_json(endpoint: str, raw: bytes) -> tuple[str, int | None, int | None, bool]:
    """(text, prompt_tokens, completion_tokens, well_formed) of a non-streamed body.

    Well formed: what an OpenAI-compatible server answers, a JSON object with
    `choices` (`data` for embeddings); a 200 that is not is an upstream error.
    """
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "", None, None, False
    if not isinstance(body, dict):
        return "", None, None, False
    well_formed = isinstance(body.get("data" if endpoint == "embeddings" else "choices"), list)
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    text = ""
    if endpoint != "embeddings":
        choices = body.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            first = choices[0]
            if endpoint == "chat.completions":
                message = first.get("message") or {}
                text = _content_text(message.get("content")) if isinstance(message, dict) else ""
            else:
                text = first.get("text") or ""
    prompt_tokens = _int(usage.get("prompt_tokens"))
    return text, prompt_tokens, _int(usage.get("completion_tokens")), well_formed


def from_sse(endpoint: str, raw: bytes) -> tuple[str, int | None, int | None, bool]:
    """(text, prompt_tokens, completion_tokens, saw_done) of a streamed body.

    Without a `usage` chunk the completion tokens are counted as content
    chunks, which is what OpenAI-compatible servers send one token per chunk.
    """
    parts: list[str] = []
    chunks = 0
    prompt_tokens = completion_tokens = None
    done = False
    good = bad = 0  # events that parse as JSON objects, and events that do not
    for line in raw.split(b"\n"):
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]":
            done = True
            continue
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            bad += 1
            continue
        if not isinstance(event, dict):
            bad += 1
            continue
        good += 1
        usage = event.get("usage")
        if isinstance(usage, dict):
            prompt_tokens = _int(usage.get("prompt_tokens"))
            completion_tokens = _int(usage.get("completion_tokens"))
        piece = content_delta(endpoint, event)
        if piece:
            parts.append(piece)
            chunks += 1
    if completion_tokens is None and chunks:
        completion_tokens = chunks
    # A stream of nothing but garbage is not a finished answer, [DONE] or not.
    return "".join(parts), prompt_tokens, completion_tokens, done and not (bad and not good)


def content_delta(endpoint: str, event: Any) -> str:
    """The text one streamed event adds to the answer."""
    if not isinstance(event, dict):
        return ""
    choices = event.get("choices")
    if not (isinstance(choices, list) and choices and isinstance(choices[0], dict)):
        return ""
    first = choices[0]
    if endpoint == "chat.completions":
        delta = first.get("delta") or {}
        return _content_text(delta.get("content")) if isinstance(delta, dict) else ""
    text = first.get("text")
    return text if isinstance(text, str) else ""


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep the text ones
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) else None
