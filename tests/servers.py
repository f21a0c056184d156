"""Helpers for tests that run real servers on loopback."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web


def free_port() -> int:
    """A loopback port nothing listens on (for 'connection refused', or to bind next)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_serve(
    config: Path,
    log: Path,
    *flags: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """`saferollout serve -c config` as users run it, output appended to `log`.

    `flags` replace the default `--no-scoring --force-without-preflight --no-report`
    (tests of one part: no scoring worker, no gate, no report in the cwd)."""
    args = flags or ("--no-scoring", "--force-without-preflight", "--no-report")
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "saferollout", "serve", "-c", str(config), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
        )


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    """Wait until a `saferollout serve` child answers /readyz; fail with its log if it died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited: {log.read_text()}")
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"serve did not become ready: {log.read_text()}")


class AppThread:
    """An aiohttp app served on 127.0.0.1 by its own event loop in a thread: fake
    upstreams and receivers that a test drives from synchronous code."""

    def __init__(self, app: web.Application, **runner_options: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(app, **runner_options)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> str:
        """Serve on a free port; returns the base URL, e.g. http://127.0.0.1:41234."""
        self.loop.run_until_complete(self._runner.setup())
        self.loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", 0).start())
        self._thread.start()
        return f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()
