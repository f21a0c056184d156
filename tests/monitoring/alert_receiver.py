"""A real HTTP alert receiver on loopback for tests: records what it gets,
and can be told to fail or hang per path.

    with AlertReceiver() as rx:
        rx.fail("/hook", times=2)          # 503 twice, then 200
        rx.hang("/slow")                   # never answers
        ... rx.wait_for(lambda reqs: len(reqs) >= 1)
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    at: float  # monotonic


@dataclass
class _Behaviour:
    fail_times: int = 0
    fail_status: int = 503
    hang: bool = False
    status: int = 200
    retry_after: str | None = None


@dataclass
class AlertReceiver:
    requests: list[Received] = field(default_factory=list)  # answered or not, in arrival order
    attempts: dict[str, int] = field(default_factory=dict)  # per path, failures included

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._behaviour: dict[str, _Behaviour] = {}
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.url = ""

    # -- configuration ------------------------------------------------------------

    def fail(
        self, path: str, times: int, status: int = 503, retry_after: str | None = None
    ) -> None:
        self._behaviour[path] = _Behaviour(
            fail_times=times, fail_status=status, retry_after=retry_after
        )

    def hang(self, path: str) -> None:
        self._behaviour[path] = _Behaviour(hang=True)

    def answer(self, path: str, status: int) -> None:
        self._behaviour[path] = _Behaviour(status=status)

    # -- reading ------------------------------------------------------------------------

    def received(self, path: str | None = None) -> list[Received]:
        """Requests answered with success (the ones a sink counts as delivered)."""
        with self._lock:
            return [r for r in self._ok if path is None or r.path == path]

    def wait_for(
        self,
        predicate: Callable[[list[Received]], bool],
        path: str | None = None,
        timeout: float = 10,
    ) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.received(path)
            if predicate(got):
                return got
            time.sleep(0.02)
        raise AssertionError(
            f"receiver: condition not met in {timeout}s; got {self.received(path)}"
        )

    # -- server -------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = orjson.loads(raw) if raw else None
        got = Received(request.path, dict(request.headers), body, time.monotonic())
        with self._lock:
            self.requests.append(got)
            n = self.attempts[request.path] = self.attempts.get(request.path, 0) + 1
        b = self._behaviour.get(request.path, _Behaviour())
        if b.hang:
            await self._release.wait()  # until the receiver stops
            return web.json_response({"error": "stopped"}, status=503)
        if n <= b.fail_times:
            headers = {"Retry-After": b.retry_after} if b.retry_after else None
            return web.json_response({"error": "try later"}, status=b.fail_status, headers=headers)
        if b.status < 300:
            with self._lock:
                self._ok.append(got)
        return web.json_response({"ok": b.status < 300}, status=b.status)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._release = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        self._started.set()
        self._loop.run_forever()

    def __enter__(self) -> AlertReceiver:
        self._ok: list[Received] = []
        self._thread.start()
        self._started.wait(10)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._loop.call_soon_threadsafe(self._release.set)
        fut = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
        fut.result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
