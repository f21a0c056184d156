"""A purpose-built faulty model server: a real aiohttp OpenAI-compatible server on
loopback whose misbehaviour is set per request.

The simulated backends (saferollout.simulation) model *quality* (harm, PII,
refusals, a share of 5xx); this server models *transport* faults the gateway must
survive: resets before and mid-body, stalls, hangs, malformed JSON or SSE, streams
without `[DONE]`. A fault applies to a share of requests, spread evenly by a
counter (request n faults when floor((n+1)*share) > floor(n*share)), so a test
knows exactly how many requests met it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
import struct
import threading
import time
from typing import Any

import orjson
from aiohttp import web

from ..servers import AppThread

FAULTS = (
    "ok",
    "5xx",  # 500 with an OpenAI-style JSON error body
    "5xx_html",  # 502 with an HTML body (a proxy in front of the model failing)
    "429",  # rate limited: a 4xx, not retried
    "hang",  # accepts the request and never answers (until released)
    "reset_before",  # closes the connection before any response byte
    "reset_mid_body",  # plain: headers and half the body, then RST; stream: two chunks, then RST
    "stall_mid_stream",  # headers and two chunks (or half a plain body), then silence
    "bad_json",  # 200, Content-Type application/json, a body that is not JSON
    "bad_sse",  # 200 SSE whose events are not JSON, then [DONE]
    "no_done",  # 200 SSE with content chunks that ends cleanly without [DONE]
)

WORDS = ["The", " answer", " is", " forty", " two", "."]


class FaultUpstream:
    """Start with `with FaultUpstream() as up:`; `up.set("reset_mid_body", share=0.3)`."""

    def __init__(
        self,
        fault: str = "ok",
        share: float = 1.0,
        api_key: str | None = None,
        echo: bool = False,
    ) -> None:
        self.base_url = ""
        self.api_key = api_key  # when set, requests without `Bearer <api_key>` get 401
        self.echo = echo  # answer with the last user message (what a leaky model repeats)
        self.requests = 0
        self.faulted = 0
        self.unauthorized = 0
        self.set(fault, share)
        self._lock = threading.Lock()
        self._release: asyncio.Event | None = None

    def set(self, fault: str, share: float = 1.0) -> None:
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; one of {', '.join(FAULTS)}")
        self.fault, self.share = fault, share
        self._counter = 0

    def _next_fault(self) -> str:
        with self._lock:
            n = self._counter
            self._counter += 1
            self.requests += 1
            hit = math.floor((n + 1) * self.share) > math.floor(n * self.share)
            if hit and self.fault != "ok":
                self.faulted += 1
                return self.fault
            return "ok"

    # -- lifecycle ---------------------------------------------------------------

    def __enter__(self) -> FaultUpstream:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/completions", self._chat)
        self._server = AppThread(app, shutdown_timeout=0.5, handler_cancellation=True)
        self._release = asyncio.Event()
        self.base_url = self._server.start() + "/v1"
        return self

    def __exit__(self, *_exc: object) -> None:
        release = self._release
        assert release is not None
        self._server.loop.call_soon_threadsafe(release.set)  # let hanging handlers end
        self._server.stop()

    # -- the route ---------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if self.api_key is not None and request.headers.get("Authorization") != (
            f"Bearer {self.api_key}"
        ):
            self.unauthorized += 1
            return web.json_response(
                {"error": {"message": "bad key", "type": "auth", "code": "invalid_api_key"}},
                status=401,
            )
        stream = body.get("stream") is True
        fault = self._next_fault()
        model = str(body.get("model", "fault"))
        words = WORDS
        if self.echo:
            last = next((m for m in reversed(body.get("messages", [])) if m["role"] == "user"), {})
            words = ["You", " said:", " ", str(last.get("content", ""))]
        if fault == "5xx":
            return web.json_response(
                {"error": {"message": "model crashed", "type": "server_error", "code": None}},
                status=500,
            )
        if fault == "5xx_html":
            return web.Response(
                status=502, text="<html><body>Bad Gateway</body></html>", content_type="text/html"
            )
        if fault == "429":
            return web.json_response(
                {"error": {"message": "slow down", "type": "rate_limit", "code": None}}, status=429
            )
        if fault == "hang":
            await self._wait_released()
            return web.Response(status=500)
        if fault == "reset_before":
            return self._abort(request)
        if stream:
            return await self._stream(request, model, fault, words)
        payload = _completion(model, words)
        if fault == "bad_json":
            return web.Response(
                status=200, body=b'{"id": "x", "choices": [', content_type="application/json"
            )
        if fault in ("reset_mid_body", "stall_mid_stream"):
            response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
            response.content_length = len(payload)
            await response.prepare(request)
            await response.write(payload[: len(payload) // 2])
            if fault == "stall_mid_stream":
                await self._wait_released()
            return self._abort(request, response)
        return web.Response(status=200, body=payload, content_type="application/json")

    async def _stream(
        self, request: web.Request, model: str, fault: str, words: list[str]
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            status=200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        for i, word in enumerate(words):
            if fault == "bad_sse":
                await response.write(b"data: {not json at all " + word.encode() + b"\n\n")
            else:
                await response.write(_sse_chunk(model, word))
            if i == 1 and fault == "reset_mid_body":
                return self._abort(request, response)
            if i == 1 and fault == "stall_mid_stream":
                await self._wait_released()
                return self._abort(request, response)
            await asyncio.sleep(0.002)
        if fault != "no_done":
            await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def _wait_released(self) -> None:
        assert self._release is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._release.wait(), 60)

    @staticmethod
    def _abort(request: web.Request, response: web.StreamResponse | None = None) -> Any:
        """Drop the TCP connection at once (RST, no clean end of the body)."""
        transport = request.transport
        if transport is not None:
            sock = transport.get_extra_info("socket")
            if sock is not None:  # linger 0: the close is a TCP RST, as a crashed process gives
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        # What aiohttp does with the handler's result no longer reaches anyone.
        return response if response is not None else web.Response(status=200)


def _completion(model: str, words: list[str]) -> bytes:
    return orjson.dumps(
        {
            "id": "chatcmpl-fault",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(words)},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": len(words), "total_tokens": 11},
        }
    )


def _sse_chunk(model: str, word: str) -> bytes:
    event = {
        "id": "chatcmpl-fault",
        "object": "chat.completion.chunk",
        "model": model,
        "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}],
    }
    return b"data: " + orjson.dumps(event) + b"\n\n"
