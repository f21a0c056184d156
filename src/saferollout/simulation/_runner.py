"""Ways to run a simulated backend: in a running loop, in a thread, in a process.

- `BackendServer`: async, inside the caller's event loop (`async with`).
- `start_backend(...) -> BackendHandle`: its own event loop (uvloop when
  installed) in a daemon thread, so sync tests and the demo can use it while
  their own loop (e.g. the gateway's) stays free.
- `start_backend_process(...) -> BackendProcess`: the `saferollout
  simulate-backend` command in a child process, for benchmarks where the
  backend must not share a core or a GIL with what is measured.
- `run_backend(...)`: blocking, until SIGINT/SIGTERM; what the CLI runs.

All of them bind port 0 by default and report the port they got.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import selectors
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from ._backend import BackendSettings, SimBackend
from ._exceptions import BackendStartError
from ._profiles import Profile


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (as in production), else the default loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _settings(settings: BackendSettings | None, overrides: dict[str, Any]) -> BackendSettings:
    given = {k: v for k, v in overrides.items() if v is not None}
    if settings is not None:
        return dataclasses.replace(settings, **given)
    return BackendSettings(**given)


class BackendServer:
    """A simulated backend served by aiohttp inside the current event loop."""

    def __init__(self, backend: SimBackend, host: str = "127.0.0.1", port: int = 0) -> None:
        self.backend = backend
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Root URL, e.g. http://127.0.0.1:PORT (append /v1 for an OpenAI base_url)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    async def start(self) -> BackendServer:
        runner = web.AppRunner(
            self.backend.app(),
            access_log=None,
            handler_cancellation=True,  # a client that leaves ends its (stalled) handler
            shutdown_timeout=0.5,
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, backlog=1024)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise BackendStartError(f"cannot listen on {self.host}:{self.port}: {exc}") from exc
        if self.port == 0:
            self.port = runner.addresses[0][1]  # the port the OS picked
        self._runner = runner
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> BackendServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def serve_backend(
    profile: str | Profile = "stable",
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    settings: BackendSettings | None = None,
    **overrides: Any,
) -> BackendServer:
    """An unstarted in-loop server: `async with serve_backend("stable") as srv: ...`.

    `overrides` are BackendSettings fields (latency_ms, tokens_per_s, seed, model, ...).
    """
    return BackendServer(SimBackend(profile, _settings(settings, overrides)), host, port)


class BackendHandle:
    """A simulated backend running on its own event loop in a daemon thread."""

    def __init__(self, server: BackendServer) -> None:
        self._server = server
        self._loop = new_event_loop()
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"sim-backend-{server.backend.profile.name}", daemon=True
        )

    # public surface
    @property
    def backend(self) -> SimBackend:
        return self._server.backend

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def base_url(self) -> str:
        return self._server.base_url

    @property
    def host(self) -> str:
        return self._server.host

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def profile(self) -> Profile:
        return self.backend.profile

    def set_profile(self, profile: str | Profile) -> Profile:
        """Switch the running server's behaviour; takes effect on the next request."""
        return self.backend.set_profile(profile)

    def stats(self) -> dict[str, int]:
        return self.backend.stats()

    def reset(self) -> None:
        self.backend.reset()

    def start(self, timeout: float = 10.0) -> BackendHandle:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise BackendStartError(f"simulated backend did not start within {timeout} s")
        if self._error is not None:
            self._thread.join(timeout)
            if isinstance(self._error, BackendStartError):
                raise self._error
            raise BackendStartError(f"simulated backend failed: {self._error}") from self._error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and join the thread; safe to call twice."""
        if self._thread.is_alive() and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout)

    def __enter__(self) -> BackendHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        finally:
            try:
                self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            finally:
                self._loop.close()
                self._ready.set()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        try:
            await self._server.start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self._server.stop()


def start_backend(
    profile: str | Profile = "stable",
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    settings: BackendSettings | None = None,
    **overrides: Any,
) -> BackendHandle:
    """Start a simulated backend in a background thread; returns once it listens.

    `overrides` are BackendSettings fields: model, latency_ms, tokens_per_s,
    jitter, seed, stall_s, embedding_dim. Use as a context manager or call stop().
    """
    server = BackendServer(SimBackend(profile, _settings(settings, overrides)), host, port)
    return BackendHandle(server).start()


async def _serve_until_signal(
    server: BackendServer, on_ready: Callable[[BackendServer], None]
) -> None:
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    try:
        on_ready(server)
        await stop.wait()
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        await server.stop()


def run_backend(
    profile: str | Profile = "stable",
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    settings: BackendSettings | None = None,
    on_ready: Callable[[BackendServer], None] = lambda server: None,
    **overrides: Any,
) -> None:
    """Serve in the foreground until SIGINT or SIGTERM (what the CLI does)."""
    server = BackendServer(SimBackend(profile, _settings(settings, overrides)), host, port)
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(_serve_until_signal(server, on_ready))


# --- subprocess --------------------------------------------------------------------

READY_LINE = re.compile(r"listening on (http://\S+)")


class BackendProcess:
    """A `saferollout simulate-backend` child process."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str) -> None:
        self.proc = proc
        self.url = url
        self.port = int(url.rsplit(":", 1)[1])

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = orjson.dumps(body) if body is not None else None
        req = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return orjson.loads(resp.read())

    def set_profile(self, profile: str) -> dict[str, Any]:
        """Switch the child's profile over HTTP (POST /admin/profile)."""
        return self._admin("POST", "/admin/profile", {"profile": profile})

    def stats(self) -> dict[str, int]:
        return self._admin("GET", "/admin/stats")["counts"]

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, wait, SIGKILL if needed; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode

    def __enter__(self) -> BackendProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_backend_process(
    profile: str = "stable",
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    latency_ms: float | None = None,
    tokens_per_s: float | None = None,
    seed: int | None = None,
    model: str | None = None,
    jitter: float | None = None,
    stall_s: float | None = None,
    cpu: int | None = None,
    timeout: float = 30.0,
) -> BackendProcess:
    """Run `saferollout simulate-backend` in a child process; returns once it listens.

    `cpu` pins the child to one core (Linux), so a benchmark can keep the
    backend off the core that runs what it measures.
    """
    args = ["simulate-backend", "--profile", profile, "--host", host, "--port", str(port)]
    for flag, value in (
        ("--latency-ms", latency_ms),
        ("--tokens-per-s", tokens_per_s),
        ("--seed", seed),
        ("--model", model),
        ("--jitter", jitter),
        ("--stall-s", stall_s),
    ):
        if value is not None:
            args += [flag, str(value)]
    cmd = [sys.executable, "-c", "from saferollout.cli import main; main()", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(proc.pid, {cpu})  # before it imports and serves anything
        except OSError as exc:
            BackendProcess(proc, "http://x:0").stop(5)
            raise BackendStartError(f"cannot pin simulate-backend to CPU {cpu}: {exc}") from exc
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    buf = b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or (proc.poll() is not None and not sel.select(0)):
                break
            if sel.select(min(left, 0.2)):
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                buf += chunk
    match = READY_LINE.search(buf.decode(errors="replace"))
    if match is None:
        BackendProcess(proc, "http://x:0").stop(5)
        raise BackendStartError(
            f"simulate-backend did not report a listening address within {timeout} s "
            f"(exit code {proc.returncode}, output {buf!r})"
        )
    return BackendProcess(proc, match.group(1))
