"""Running the gateway: in the foreground for `serve`, or in a thread for tests and the demo."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from ._app import Gateway

log = logging.getLogger("saferollout.gateway")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed: measured here as the cheaper loop per request."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run_gateway(
    gateway: Gateway,
    host: str,
    port: int,
    *,
    on_ready: Callable[[str], None] | None = None,
    reuse_port: bool = False,
) -> None:
    """Serve until SIGINT/SIGTERM; then drain in-flight requests and flush records.

    `reuse_port`: several processes share the port (`serve --workers N`); the
    kernel spreads connections over them."""

    def print_ready(*_args: object) -> None:
        if on_ready is not None:
            on_ready(f"http://{host}:{port}")

    # Everything built so far (modules, config, app, pools) lives as long as the
    # process: out of the collector's sight, a full collection no longer walks
    # it, which cut the p99 at 16 connections about threefold (bench/README).
    gc.collect()
    gc.freeze()
    web.run_app(
        gateway.app,
        host=host,
        port=port,
        loop=new_event_loop(),
        access_log=None,
        print=print_ready,
        shutdown_timeout=gateway.config.server.shutdown_timeout_s,
        handle_signals=True,
        reuse_port=reuse_port or None,
    )


@dataclass
class GatewayHandle:
    """A gateway serving from a background thread with its own event loop."""

    gateway: Gateway
    url: str
    port: int
    _loop: asyncio.AbstractEventLoop
    _runner: web.AppRunner
    _thread: threading.Thread
    _stopped: bool = field(default=False)

    def stop(self) -> None:
        """Graceful stop, as on SIGTERM: in-flight requests finish, records flush."""
        if self._stopped:
            return
        self._stopped = True
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(60)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def call(self, fn: Callable[[], object]) -> None:
        """Run `fn` on the gateway's loop thread (e.g. a weight change)."""
        self._loop.call_soon_threadsafe(fn)

    def __enter__(self) -> GatewayHandle:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def start_gateway(gateway: Gateway, host: str = "127.0.0.1", port: int = 0) -> GatewayHandle:
    loop = new_event_loop()
    runner = web.AppRunner(
        gateway.app, access_log=None, shutdown_timeout=gateway.config.server.shutdown_timeout_s
    )
    ready: dict[str, object] = {}
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, host, port)
            loop.run_until_complete(site.start())
            ready["port"] = runner.addresses[0][1]
        except BaseException as exc:  # surface start-up errors to the caller
            ready["error"] = exc
            started.set()
            return
        started.set()
        loop.run_forever()
        loop.close()

    thread = threading.Thread(target=run, name="gateway", daemon=True)
    thread.start()
    started.wait(30)
    if "error" in ready:
        raise ready["error"]  # type: ignore[misc]
    bound = int(ready["port"])  # type: ignore[call-overload]
    return GatewayHandle(gateway, f"http://{host}:{bound}", bound, loop, runner, thread)
