"""Guardrails on the request path: blocked responses and reading streamed text.

Only requests under an enabled guardrail pay for any of this; with guardrails
off the gateway never parses a model's answer on the request path.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from ..safety import blocked_chunks, blocked_completion, blocked_text_completion
from ._extract import content_delta


def blocked_response(
    endpoint: str, stream: bool, message: str, model: str, request_id: str, headers: dict[str, str]
) -> web.Response:
    """What a client gets instead of a blocked answer: a normal completion whose
    text is the block message and whose finish_reason is `content_filter`."""
    if endpoint == "completions":
        body = orjson.dumps(blocked_text_completion(message, model=model, request_id=request_id))
        return web.Response(body=body, content_type="application/json", headers=headers)
    if not stream:
        body = orjson.dumps(blocked_completion(message, model=model, request_id=request_id))
        return web.Response(body=body, content_type="application/json", headers=headers)
    return web.Response(
        body=sse_blocked(message, model, request_id),
        headers={**headers, "Content-Type": "text/event-stream", "Cache-Control": "no-cache"},
    )


def sse_blocked(message: str, model: str, request_id: str) -> bytes:
    chunks = blocked_chunks(message, model=model, request_id=request_id)
    return b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


class SSETextReader:
    """Turns SSE bytes, split anywhere, into the answer's text deltas."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._pending = b""

    def feed(self, chunk: bytes) -> str:
        self._pending += chunk
        *lines, self._pending = self._pending.split(b"\n")
        parts = []
        for line in lines:
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                continue
            try:
                event: Any = orjson.loads(data)
            except orjson.JSONDecodeError:
                continue
            parts.append(content_delta(self.endpoint, event))
        return "".join(parts)
