"""Fixtures for the simulation tests: real simulated backends on loopback.

Helpers are fixtures rather than importable functions so that the tests work
whatever pytest import mode the project uses.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest

from saferollout.simulation import BackendHandle, Profile, start_backend

StartBackend = Callable[..., BackendHandle]


@pytest.fixture
def make_backend() -> Iterator[StartBackend]:
    """Start backends (latency 0, seed 1 unless asked) that stop after the test."""
    handles: list[BackendHandle] = []

    def make(profile: str | Profile = "stable", **kw: Any) -> BackendHandle:
        kw.setdefault("latency_ms", 0)
        kw.setdefault("seed", 1)
        handle = start_backend(profile, **kw)
        handles.append(handle)
        return handle

    yield make
    for h in handles:
        h.stop()


@pytest.fixture
def backend(make_backend: StartBackend) -> BackendHandle:
    return make_backend("stable")


class Http:
    """Blocking HTTP with the standard library; 4xx/5xx are returned, not raised."""

    @staticmethod
    def post(
        url: str, body: Any = None, *, raw: bytes | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        data = raw if raw is not None else orjson.dumps(body)
        req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as e:
            with e:
                return e.code, dict(e.headers), e.read()

    @staticmethod
    def get(url: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            with e:
                return e.code, e.read()

    @staticmethod
    def sse(body: bytes) -> list[Any]:
        """The data payloads of an SSE body: parsed JSON, or "[DONE]"."""
        out: list[Any] = []
        for line in body.split(b"\n"):
            if line.startswith(b"data: "):
                payload = line[6:]
                out.append("[DONE]" if payload == b"[DONE]" else orjson.loads(payload))
        return out

    @staticmethod
    def chat(text: str, **extra: Any) -> dict[str, Any]:
        return {"model": "m", "messages": [{"role": "user", "content": text}], **extra}


@pytest.fixture
def http() -> type[Http]:
    return Http
