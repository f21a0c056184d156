"""Gateway fixtures: real simulated model servers and a real gateway on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from saferollout.config import RolloutConfig, parse_config
from saferollout.gateway import Gateway, GatewayHandle, start_gateway
from saferollout.simulation import BackendHandle, Profile, start_backend
from saferollout.store import Store

from ..servers import AppThread

# Deterministic behaviours for gateway tests: the gateway must pass through
# whatever the model says, so the model should say it every time.
CALM = Profile(name="calm", error_rate=0.0, pii_leak_rate=0.0, toxic_rate=0.0)
BROKEN = Profile(name="broken", error_rate=1.0)
STALLING = Profile(name="stalling", error_rate=0.0, stall_rate=1.0)


async def send_chats(
    url: str, n: int, concurrency: int, *, content: str = "Explain photosynthesis briefly."
) -> list[tuple[int, str | None]]:
    """n chat requests (a third streamed, 50 users) from `concurrency` parallel
    clients; (status, X-Request-Id) of each."""
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int, session: aiohttp.ClientSession) -> tuple[int, str | None]:
        body = {
            "model": "whatever",
            "messages": [{"role": "user", "content": content}],
            "stream": i % 3 == 0,
            "user": f"user-{i % 50}",
        }
        async with sem, session.post(url + "/v1/chat/completions", json=body) as r:
            await r.read()
            return r.status, r.headers.get("X-Request-Id")

    async with aiohttp.ClientSession() as session:
        return await asyncio.gather(*(one(i, session) for i in range(n)))


def make_config(
    stable_url: str, candidate_url: str, weight: float = 50, **extra: Any
) -> RolloutConfig:
    server = extra.pop("server", {})
    body_max = server.get("max_body_bytes", 65536)
    in_flight = server.get("max_in_flight", 4096)
    yaml = f"""
name: test-rollout
versions:
  stable: {{url: "{stable_url}", model: model-stable, timeout_s: {extra.pop("stable_timeout", 10)}}}
  canary: {{url: "{candidate_url}", model: model-canary, timeout_s: {extra.pop("timeout_s", 10)}}}
stable: stable
candidate: canary
strategy: {{type: canary, steps: [{{weight: {weight}}}]}}
retry_on_stable: {str(extra.pop("retry_on_stable", True)).lower()}
server: {{flush_interval_s: 0.05, max_body_bytes: {body_max}, max_in_flight: {in_flight}}}
logging: {{redact: {extra.pop("redact", "none")}}}
"""
    assert not extra, extra
    return parse_config(yaml, env={})


@pytest.fixture
def backends() -> Iterator[Callable[..., BackendHandle]]:
    started: list[BackendHandle] = []

    def start(profile: str | Profile = CALM, **settings: Any) -> BackendHandle:
        settings.setdefault("latency_ms", 1)
        handle = start_backend(profile, **settings)
        started.append(handle)
        return handle

    yield start
    for handle in started:
        handle.stop()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'gw.db'}")
    yield store
    store.close()


@pytest.fixture
def gateway_factory(sqlite_store: Store) -> Iterator[Callable[..., GatewayHandle]]:
    handles: list[GatewayHandle] = []

    def start(config: RolloutConfig, store: Store | None = None, **kw: Any) -> GatewayHandle:
        handle = start_gateway(Gateway(config, store or sqlite_store, **kw))
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        handle.stop()


class EchoUpstream:
    """A real OpenAI-style server that remembers every body it received."""

    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.received: list[dict[str, Any]] = []
        self.base_url = ""

    def __enter__(self) -> EchoUpstream:
        from aiohttp import web

        async def chat(request: web.Request) -> web.Response:
            self.received.append(await request.json())
            if self.fail:
                return web.json_response({"error": {"message": "down"}}, status=503)
            return web.json_response(
                {"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}]}
            )

        app = web.Application()
        app.router.add_post("/v1/chat/completions", chat)
        self._server = AppThread(app)
        self.base_url = self._server.start() + "/v1"
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.stop()


def start_echo_upstream(fail: bool = False) -> EchoUpstream:
    return EchoUpstream(fail)
