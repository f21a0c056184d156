"""A minimal, fast OpenAI-style upstream for the gateway benchmark.

Answers every POST under /v1 with a fixed body: a small `chat.completion` with
`usage`, or, when the request asks for `stream: true`, a fixed SSE stream of
`--chunks` chunks and `data: [DONE]`. Nothing is generated per request, so the
upstream costs as little CPU as aiohttp + uvloop allow and the benchmark
measures the proxy in front of it, not the model server. (The simulated
backend in `saferollout.simulation` is realistic but far too heavy for this.)

    python bench/mock_upstream.py --port 9001 [--latency-ms 50] [--chunks 20]
"""

from __future__ import annotations

import argparse
import asyncio

import orjson
import uvloop
from aiohttp import web

CHAT_BODY = orjson.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "mock",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello! How can I help you today?"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 24, "completion_tokens": 9, "total_tokens": 33},
    }
)
EMBEDDING_BODY = orjson.dumps(
    {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.0] * 8}],
        "model": "mock",
        "usage": {"prompt_tokens": 4, "total_tokens": 4},
    }
)
MODELS_BODY = orjson.dumps(
    {"object": "list", "data": [{"id": "mock", "object": "model", "created": 0, "owned_by": "x"}]}
)
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}


def sse_chunks(n: int) -> list[bytes]:
    """`n` content chunks, the last one with finish_reason and usage, then [DONE]."""
    out = []
    for i in range(n):
        last = i == n - 1
        event: dict[str, object] = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": "mock",
            "choices": [
                {
                    "index": 0,
                    "delta": {"content": f"tok{i} "},
                    "finish_reason": "stop" if last else None,
                }
            ],
        }
        if last:
            event["usage"] = {"prompt_tokens": 24, "completion_tokens": n, "total_tokens": 24 + n}
        out.append(b"data: " + orjson.dumps(event) + b"\n\n")
    out.append(b"data: [DONE]\n\n")
    return out


def wants_stream(raw: bytes) -> bool:
    # A substring test instead of a JSON parse: the bodies here come from our own
    # clients (wrk's Lua script, _openloop.py) or from orjson in the proxies.
    return b'"stream":true' in raw or b'"stream": true' in raw


def build_app(latency_s: float, chunks: list[bytes], chunk_interval_s: float) -> web.Application:
    async def completion(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        if latency_s:
            await asyncio.sleep(latency_s)
        if not wants_stream(raw):
            body = EMBEDDING_BODY if request.path.endswith("/embeddings") else CHAT_BODY
            return web.Response(body=body, content_type="application/json")
        response = web.StreamResponse(headers=SSE_HEADERS)
        await response.prepare(request)
        for i, chunk in enumerate(chunks):
            if chunk_interval_s and i:
                await asyncio.sleep(chunk_interval_s)
            await response.write(chunk)
        await response.write_eof()
        return response

    async def models(_request: web.Request) -> web.Response:
        return web.Response(body=MODELS_BODY, content_type="application/json")

    app = web.Application()
    for path in ("/v1/chat/completions", "/v1/completions", "/v1/embeddings"):
        app.router.add_post(path, completion)
    app.router.add_get("/v1/models", models)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="fixed delay before answering"
    )
    parser.add_argument("--chunks", type=int, default=20, help="content chunks per SSE stream")
    parser.add_argument(
        "--chunk-interval-ms", type=float, default=0.0, help="delay between SSE chunks"
    )
    args = parser.parse_args()
    app = build_app(args.latency_ms / 1000, sse_chunks(args.chunks), args.chunk_interval_ms / 1000)
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        loop=uvloop.new_event_loop(),
        access_log=None,
        print=None,
    )


if __name__ == "__main__":
    main()
