"""The traffic generator against a real backend that records what it received."""

from __future__ import annotations

import asyncio
import itertools
import socket
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from saferollout.simulation import (
    BackendHandle,
    BackendServer,
    BackendSettings,
    Profile,
    SimBackend,
    TrafficConfig,
    generate_traffic,
    plan_sessions,
    run_traffic,
)

CLEAN = Profile(name="clean", error_rate=0.0)


class RecordingBackend(SimBackend):
    """A simulated backend that records each request and answers like a gateway would:
    X-Rollout-Version by a hash of the session id, a fresh X-Request-Id."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen: list[dict[str, Any]] = []

    def app(self) -> web.Application:
        app = super().app()

        @web.middleware
        async def record(request: web.Request, handler: Any) -> web.StreamResponse:
            body = orjson.loads(await request.read()) if request.can_read_body else None
            self.seen.append({"headers": dict(request.headers), "body": body})
            return await handler(request)

        async def stamp(request: web.Request, response: web.StreamResponse) -> None:
            sid = request.headers.get("X-Session-Id", "")
            response.headers["X-Rollout-Version"] = "canary" if hash(sid) % 4 == 0 else "stable"
            response.headers["X-Request-Id"] = uuid.uuid4().hex

        app.middlewares.append(record)
        app.on_response_prepare.append(stamp)
        return app


@pytest.fixture
def recorder() -> Iterator[BackendHandle]:
    backend = RecordingBackend(CLEAN, BackendSettings(latency_ms=1, seed=2))
    handle = BackendHandle(BackendServer(backend)).start()
    yield handle
    handle.stop()


def test_plan_is_seeded_and_sums_to_the_request_count() -> None:
    cfg = TrafficConfig(base_url="http://x", requests=5000, harmful_share=0.1, seed=11)
    a, b = plan_sessions(cfg), plan_sessions(cfg)
    assert a == b
    assert plan_sessions(TrafficConfig(base_url="http://x", requests=5000, seed=12)) != a
    assert sum(len(s.turns) for s in a) == 5000
    assert {len(s.turns) for s in a} == {1, 2, 3, 4}
    harmful = sum(t.label == "harmful" for s in a for t in s.turns)
    assert 0.085 <= harmful / 5000 <= 0.115
    assert 0.25 <= sum(s.stream for s in a) / len(a) <= 0.35
    assert len({s.session_id for s in a}) == len(a)
    assert len({s.user_id for s in a}) < len(a)  # users come back with new sessions


def test_sessions_are_multi_turn_with_history_and_sticky_headers(recorder) -> None:
    cfg = TrafficConfig(base_url=recorder.url, requests=300, concurrency=16, seed=5)
    result = run_traffic(cfg)
    assert len(result) == 300 and all(o.ok for o in result.outcomes)
    seen = recorder.backend.seen  # type: ignore[attr-defined]
    assert len(seen) == 300

    user_of: dict[str, set[str]] = defaultdict(set)
    for req in seen:
        h = req["headers"]
        user_of[h["X-Session-Id"]].add(h["X-User-Id"])
        assert req["body"]["user"] == h["X-User-Id"]
    assert all(len(users) == 1 for users in user_of.values())

    by_session: dict[str, list[Any]] = defaultdict(list)
    for o in result.outcomes:
        by_session[o.session_id].append(o)
    assert max(len(v) for v in by_session.values()) >= 3
    received = {  # (session, number of messages) -> messages the server got
        (r["headers"]["X-Session-Id"], len(r["body"]["messages"])): r["body"]["messages"]
        for r in seen
    }
    for sid, outcomes in by_session.items():
        outcomes.sort(key=lambda o: o.turn)
        assert [o.turn for o in outcomes] == list(range(1, len(outcomes) + 1))
        assert len({o.version for o in outcomes}) == 1  # sticky per session
        assert len({o.stream for o in outcomes}) == 1
        for prev, cur in itertools.pairwise(outcomes):
            assert cur.n_messages == prev.n_messages + 2
            messages = received[(sid, cur.n_messages)]
            assert messages[0]["role"] == "system"
            assert messages[-2] == {"role": "assistant", "content": prev.text}
            assert messages[-1]["role"] == "user"
    assert {o.stream for o in result.outcomes} == {True, False}
    assert len({o.request_id for o in result.outcomes}) == 300
    versions = Counter(o.version for o in result.outcomes)
    assert set(versions) == {"stable", "canary"}
    assert result.summary()["canary"]["requests"] == versions["canary"]


def test_streams_report_ttft_and_tokens(recorder) -> None:
    result = run_traffic(
        TrafficConfig(base_url=recorder.base_url, requests=40, stream_share=1.0, seed=1)
    )
    for o in result.outcomes:
        assert o.stream and o.completed and o.ttft_s is not None and o.ttft_s <= o.latency_s
        assert o.completion_tokens and o.completion_tokens > 0


def test_open_loop_holds_the_rate(recorder) -> None:
    cfg = TrafficConfig(base_url=recorder.url, requests=150, rate=300.0, seed=3)
    result = run_traffic(cfg)
    assert len(result) == 150
    assert 0.45 <= result.duration_s <= 1.2
    starts = sorted(o.started_s for o in result.outcomes)
    assert starts[-1] >= 0.45  # spread over the run, not sent in one burst


def test_async_api_in_a_running_loop_with_a_shared_session(recorder) -> None:
    got: list[Any] = []

    async def main() -> int:
        async with aiohttp.ClientSession() as session:
            cfg = TrafficConfig(base_url=recorder.url, requests=25, seed=4)
            result = await generate_traffic(cfg, session=session, on_outcome=got.append)
            assert not session.closed
            return len(result)

    assert asyncio.run(main()) == 25 and len(got) == 25


def test_same_seed_same_conversation(make_backend) -> None:
    def texts() -> list[tuple[str, int, str]]:
        b = make_backend("regressed", seed=8)
        cfg = TrafficConfig(base_url=b.url, requests=40, concurrency=1, seed=8)
        return [(o.session_id, o.turn, o.text) for o in run_traffic(cfg).outcomes]

    assert texts() == texts()


def test_outcomes_classify_faults(make_backend) -> None:
    flaky = Profile(name="f", error_rate=0.2, stall_rate=0.3, malformed_rate=0.2)
    b = make_backend(flaky, stall_s=0.05)
    cfg = TrafficConfig(base_url=b.url, requests=200, stream_share=0.5, seed=6, timeout_s=5)
    result = run_traffic(cfg)
    errors = Counter(o.error for o in result.outcomes)
    assert errors["http_500"] + errors["http_503"] > 0
    assert errors["broken_stream"] > 0 and errors["malformed"] > 0
    truth = Counter(o.sim_decision for o in result.outcomes)
    assert errors["broken_stream"] == sum(
        1 for o in result.outcomes if o.stream and o.sim_decision == "stall_mid"
    )
    assert truth["malformed"] == errors["malformed"]


def test_timeouts_and_refused_connections() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    result = run_traffic(TrafficConfig(base_url=f"http://127.0.0.1:{port}", requests=5))
    assert all(o.status == 0 and o.error == "connection" for o in result.outcomes)


def test_timeout_is_reported(make_backend) -> None:
    b = make_backend(Profile(name="s", error_rate=0, stall_rate=1.0), stall_s=2)
    result = run_traffic(TrafficConfig(base_url=b.url, requests=4, timeout_s=0.2, seed=1))
    assert {o.error for o in result.outcomes} == {"timeout"}
