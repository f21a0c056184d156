"""The baseline: a bare aiohttp pass-through proxy on uvloop.

What any aiohttp proxy must do at the least, and nothing more: read the client
body, forward the bytes with one pooled `ClientSession`, and return the
upstream body (an SSE answer is relayed chunk by chunk). No routing, no
validation, no metrics, no records. The gateway's throughput target is a share
of this proxy's, measured side by side on the same core in the same run.

    python bench/bare_proxy.py --port 9100 --upstream http://127.0.0.1:9001
"""

from __future__ import annotations

import argparse

import aiohttp
import uvloop
from aiohttp import web

HOP_HEADERS = {"Content-Type": "application/json"}
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}


def build_app(upstream: str, max_connections: int) -> web.Application:
    state: dict[str, aiohttp.ClientSession] = {}

    async def start(_app: web.Application) -> None:
        connector = aiohttp.TCPConnector(limit=max_connections, keepalive_timeout=30)
        state["session"] = aiohttp.ClientSession(connector=connector, headers=HOP_HEADERS)

    async def stop(_app: web.Application) -> None:
        await state["session"].close()

    async def forward(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        async with state["session"].post(upstream + request.path, data=raw) as up:
            if up.content_type != "text/event-stream":
                body = await up.read()
                return web.Response(status=up.status, body=body, content_type=up.content_type)
            response = web.StreamResponse(status=up.status, headers=SSE_HEADERS)
            await response.prepare(request)
            async for chunk in up.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response

    app = web.Application()
    app.router.add_post("/{tail:.*}", forward)
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:9001")
    parser.add_argument("--max-connections", type=int, default=256)
    args = parser.parse_args()
    web.run_app(
        build_app(args.upstream.rstrip("/"), args.max_connections),
        host=args.host,
        port=args.port,
        loop=uvloop.new_event_loop(),
        access_log=None,
        print=None,
    )


if __name__ == "__main__":
    main()
