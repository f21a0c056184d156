"""The gateway against real simulated model servers on loopback."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable

import httpx
import pytest

from saferollout.gateway import GatewayHandle
from saferollout.simulation import BackendHandle
from saferollout.store import Store

from ..servers import free_port
from .conftest import BROKEN, STALLING, make_config, send_chats

CHAT = {
    "model": "whatever",
    "messages": [{"role": "user", "content": "Explain photosynthesis briefly."}],
}


def wait_records(store: Store, n: int, timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    count = store.count_interactions()
    while count < n and time.monotonic() < deadline:
        time.sleep(0.05)
        count = store.count_interactions()
    return count


def test_plain_chat_routes_sticky_and_replaces_model(
    backends: Callable[..., BackendHandle],
    gateway_factory: Callable[..., GatewayHandle],
    sqlite_store: Store,
) -> None:
    stable, canary = backends(), backends()
    gw = gateway_factory(make_config(stable.base_url, canary.base_url, weight=50))
    seen: dict[str, str] = {}
    with httpx.Client(base_url=gw.url) as client:
        for i in range(40):
            session = f"session-{i % 10}"
            r = client.post("/v1/chat/completions", json=CHAT, headers={"X-Session-Id": session})
            assert r.status_code == 200
            version = r.headers["X-Rollout-Version"]
            assert r.headers["X-Request-Id"].startswith("req_")
            assert r.json()["model"] == f"model-{version}"
            assert seen.setdefault(session, version) == version, "a session changed version"
    assert set(seen.values()) == {"stable", "canary"}
    assert wait_records(sqlite_store, 40) == 40
    rows = sqlite_store.list_interactions(limit=100)
    assert {r["session_id"] for r in rows} == {f"session-{i}" for i in range(10)}
    assert all(r["response_text"] and r["completion_tokens"] for r in rows)
    assert all(r["sticky_key_hash"] and "session" not in r["sticky_key_hash"] for r in rows)


def test_stream_passes_chunks_through_as_they_come(
    backends: Callable[..., BackendHandle],
    gateway_factory: Callable[..., GatewayHandle],
    sqlite_store: Store,
) -> None:
    stable = backends(latency_ms=1, tokens_per_s=40)
    gw = gateway_factory(make_config(stable.base_url, stable.base_url, weight=0))
    arrivals: list[float] = []
    with httpx.Client(base_url=gw.url, timeout=30) as client:
        started = time.perf_counter()
        with client.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as r:
            assert r.status_code == 200
            assert r.headers["X-Accel-Buffering"] == "no"
            assert r.headers["Content-Type"].startswith("text/event-stream")
            assert r.headers["X-Rollout-Version"] == "stable"
            lines = []
            for line in r.iter_lines():
                if line.startswith("data:"):
                    arrivals.append(time.perf_counter() - started)
                    lines.append(line)
    assert lines[-1] == "data: [DONE]"
    # Paced at 40 tokens/s: if the gateway buffered, every chunk would arrive at once.
    assert arrivals[-1] - arrivals[0] > 0.5
    assert len(lines) > 10
    assert wait_records(sqlite_store, 1) == 1
    [row] = sqlite_store.list_interactions()
    assert (
        row["stream"] is True and row["ttft_ms"] is not None and row["ttft_ms"] < row["latency_ms"]
    )
    text = "".join(
        json.loads(line[5:])["choices"][0]["delta"].get("content") or ""
        for line in lines[:-1]
        if json.loads(line[5:]).get("choices")
    )
    assert row["response_text"] == text and row["error_kind"] is None


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        (b"{not json", 400, "invalid_json", None),
        (b"[1, 2]", 400, "invalid_json", None),
        (b'{"model": "x"}', 400, "missing_required_parameter", "messages"),
        (b'{"messages": "hi"}', 400, "invalid_type", "messages"),
        (
            b'{"messages": [{"role": "robot", "content": "x"}]}',
            400,
            "invalid_value",
            "messages[0].role",
        ),
        (
            b'{"messages": [{"role": "user", "content": 5}]}',
            400,
            "invalid_type",
            "messages[0].content",
        ),
        (
            b'{"messages": [{"role": "user", "content": "x"}], "stream": "yes"}',
            400,
            "invalid_type",
            "stream",
        ),
        (b"", 400, "invalid_json", None),
    ],
)
def test_bad_requests_get_openai_errors_and_no_record(
    backends: Callable[..., BackendHandle],
    gateway_factory: Callable[..., GatewayHandle],
    sqlite_store: Store,
    body: bytes,
    status: int,
    code: str,
    param: str | None,
) -> None:
    stable = backends()
    gw = gateway_factory(make_config(stable.base_url, stable.base_url))
    r = httpx.post(
        gw.url + "/v1/chat/completions", content=body, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == status
    error = r.json()["error"]
    assert (
        error["code"] == code
        and error["param"] == param
        and error["type"] == "invalid_request_error"
    )
    if param:
        assert param.split(".")[0].split("[")[0] in error["message"]
    assert r.headers["X-Request-Id"]
    assert stable.stats().get("requests", 0) == 0
    time.sleep(0.2)
    assert sqlite_store.count_interactions() == 0


def test_completions_and_embeddings_are_validated_and_forwarded(
    backends: Callable[..., BackendHandle],
    gateway_factory: Callable[..., GatewayHandle],
    sqlite_store: Store,
) -> None:
    stable = backends()
    gw = gateway_factory(make_config(stable.base_url, stable.base_url, weight=0))
    with httpx.Client(base_url=gw.url) as client:
        r = client.post("/v1/completions", json={"model": "x", "prompt": "Once upon a time"})
        assert r.status_code == 200 and r.json()["choices"][0]["text"]
        r = client.post("/v1/embeddings", json={"model": "x", "input": ["a", "b"]})
        assert r.status_code == 200 and len(r.json()["data"]) == 2
        assert (
            client.post("/v1/completions", json={"model": "x"}).json()["error"]["param"] == "prompt"
        )
        assert client.post("/v1/embeddings", json={"input": 3}).json()["error"]["param"] == "input"
        models = client.get("/v1/models").json()
        assert {m["id"] for m in models["data"]} == {"model-stable", "model-canary"}
    assert wait_records(sqlite_store, 2) == 2
    kinds = Counter(r["endpoint"] for r in sqlite_store.list_interactions())
    assert kinds == {"completions": 1, "embeddings": 1}


def test_body_size_limit(
    backends: Callable[..., BackendHandle], gateway_factory: Callable[..., GatewayHandle]
) -> None:
    stable = backends()
    gw = gateway_factory(
        make_config(stable.base_url, stable.base_url, server={"max_body_bytes": 2048})
    )
    big = {"messages": [{"role": "user", "content": "x" * 5000}]}
    r = httpx.post(gw.url + "/v1/chat/completions", json=big)
    assert r.status_code == 413
    assert (
        r.json()["error"]["code"] == "request_too_large" and "2048" in r.json()["error"]["message"]
    )

    def chunked() -> object:
        yield json.dumps(big).encode()

    r = httpx.post(gw.url + "/v1/chat/completions", content=chunked())  # no Content-Length
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"


def test_requests_past_max_in_flight_get_a_quick_503(
    backends: Callable[..., BackendHandle],
    gateway_factory: Callable[..., GatewayHandle],
    sqlite_store: Store,
) -> None:
    slow = backends(latency_ms=800)
    gw = gateway_factory(
        make_config(slow.base_url, slow.base_url, server={"max_in_flight": 2}), sqlite_store
    )
    chat = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}

    async def burst() -> list[tuple[int, float, httpx.Response]]:
        async with httpx.AsyncClient(base_url=gw.url, timeout=10) as client:

            async def one(i: int) -> tuple[int, float, httpx.Response]:
                await asyncio.sleep(0.1 * (i >= 2))  # the first two are in flight first
                t = time.perf_counter()
                r = await client.post("/v1/chat/completions", json=chat)
                return i, time.perf_counter() - t, r

            return await asyncio.gather(*(one(i) for i in range(5)))

    results = asyncio.run(burst())
    served = [r for _, _, r in results if r.status_code == 200]
    refused = [(dt, r) for _, dt, r in results if r.status_code == 503]
    assert len(served) == 2 and len(refused) == 3, [r.status_code for _, _, r in results]
    for dt, r in refused:
        assert dt < 0.5  # answered at once, not after waiting for the slow upstream
        error = r.json()["error"]
        assert error["code"] == "overloaded" and "max_in_flight" in error["message"]
        assert r.headers["Retry-After"] == "1" and r.headers["X-Rollout-Version"] == "none"
    # The slots free up again, and only served requests have records.
    assert httpx.post(gw.url + "/v1/chat/completions", json=chat, timeout=10).status_code == 200
    gw.stop()
    assert sqlite_store.count_interactions() == 3


@pytest.mark.parametrize("failure", ["5xx", "refused", "timeout"])
def test_candidate_failure_is_retried_on_stable_and_recorded(
    backends: Callable[..., BackendHandle],
    gateway_factory: Callable[..., GatewayHandle],
    sqlite_store: Store,
    failure: str,
) -> None:
    stable = backends()
    if failure == "5xx":
        canary_url = backends(BROKEN).base_url
    elif failure == "refused":
        canary_url = f"http://127.0.0.1:{free_port()}/v1"
    else:
        canary_url = backends(STALLING, stall_s=5).base_url
    gw = gateway_factory(make_config(stable.base_url, canary_url, weight=100, timeout_s=0.3))
    for stream in (False, True):
        r = httpx.post(gw.url + "/v1/chat/completions", json={**CHAT, "stream": stream}, timeout=10)
        assert r.status_code == 200
        assert r.headers["X-Rollout-Version"] == "stable"
    assert wait_records(sqlite_store, 2) == 2
    kind = {"5xx": "upstream_5xx", "refused": "connect", "timeout": "timeout"}[failure]
    for row in sqlite_store.list_interactions():
        assert row["version"] == "stable" and row["retried_from"] == "canary"
        assert row["extra"]["retry_reason"] == kind and row["error_kind"] is None
    metrics = httpx.get(gw.url + "/metrics").text
    assert f'saferollout_errors_total{{kind="{kind}",version="canary"}} 2.0' in metrics
    assert 'saferollout_retries_on_stable_total{from_version="canary"} 2.0' in metrics


def test_without_retry_the_client_sees_the_failure(
    backends: Callable[..., BackendHandle],
    gateway_factory: Callable[..., GatewayHandle],
    sqlite_store: Store,
) -> None:
    stable = backends()
    gw = gateway_factory(
        make_config(
            stable.base_url, f"http://127.0.0.1:{free_port()}/v1", weight=100, retry_on_stable=False
        )
    )
    r = httpx.post(gw.url + "/v1/chat/completions", json=CHAT)
    assert r.status_code == 502 and r.headers["X-Rollout-Version"] == "canary"
    assert r.json()["error"]["code"] == "upstream_unreachable"
    broken = backends(BROKEN)
    gw2 = gateway_factory(
        make_config(stable.base_url, broken.base_url, weight=100, retry_on_stable=False)
    )
    r = httpx.post(gw2.url + "/v1/chat/completions", json=CHAT)
    assert r.status_code in (500, 503) and "error" in r.json()
    assert wait_records(sqlite_store, 2) == 2
    kinds = sorted(row["error_kind"] for row in sqlite_store.list_interactions())
    assert kinds == ["connect", "upstream_5xx"]


def test_version_override_needs_admin_token(
    backends: Callable[..., BackendHandle], gateway_factory: Callable[..., GatewayHandle]
) -> None:
    stable = backends()
    gw = gateway_factory(
        make_config(stable.base_url, stable.base_url, weight=0), admin_token="s3cret"
    )
    url = gw.url + "/v1/chat/completions"
    r = httpx.post(url, json=CHAT, headers={"X-Rollout-Version": "canary"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "override_not_allowed"
    r = httpx.post(
        url, json=CHAT, headers={"X-Rollout-Version": "canary", "Authorization": "Bearer wrong"}
    )
    assert r.status_code == 403
    auth = {"Authorization": "Bearer s3cret"}
    r = httpx.post(url, json=CHAT, headers={"X-Rollout-Version": "canary", **auth})
    assert r.status_code == 200 and r.headers["X-Rollout-Version"] == "canary"
    r = httpx.post(url, json=CHAT, headers={"X-Rollout-Version": "nope", **auth})
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_version"


def test_weight_change_applies_at_once(
    backends: Callable[..., BackendHandle], gateway_factory: Callable[..., GatewayHandle]
) -> None:
    stable = backends()
    gw = gateway_factory(make_config(stable.base_url, stable.base_url, weight=100))
    with httpx.Client(base_url=gw.url) as client:
        assert (
            client.post("/v1/chat/completions", json=CHAT).headers["X-Rollout-Version"] == "canary"
        )
        gw.gateway.set_weights({"canary": 0})
        versions = {
            client.post("/v1/chat/completions", json=CHAT).headers["X-Rollout-Version"]
            for _ in range(20)
        }
        assert versions == {"stable"}
        assert (
            'saferollout_version_weight_percent{version="canary"} 0.0'
            in client.get("/metrics").text
        )


def test_openai_client_plain_and_streaming(
    backends: Callable[..., BackendHandle],
    gateway_factory: Callable[..., GatewayHandle],
    sqlite_store: Store,
) -> None:
    openai = pytest.importorskip("openai")
    stable = backends()
    gw = gateway_factory(make_config(stable.base_url, stable.base_url, weight=0))
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key="unused")
    reply = client.chat.completions.create(
        model="any", messages=[{"role": "user", "content": "Hello!"}]
    )
    assert (
        reply.choices[0].message.content
        and reply.usage is not None
        and reply.usage.completion_tokens > 0
    )
    stream = client.chat.completions.create(
        model="any", messages=[{"role": "user", "content": "Hello!"}], stream=True
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text
    client.close()
    assert wait_records(sqlite_store, 2) == 2
    assert text in {r["response_text"] for r in sqlite_store.list_interactions()}


def test_health_ready_and_metrics(
    backends: Callable[..., BackendHandle], gateway_factory: Callable[..., GatewayHandle]
) -> None:
    stable = backends()
    gw = gateway_factory(make_config(stable.base_url, stable.base_url, weight=0))
    with httpx.Client(base_url=gw.url) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").json()["ready"] is True
        client.post("/v1/chat/completions", json=CHAT)
        text = client.get("/metrics").text
    assert (
        'saferollout_requests_total{code="200",endpoint="chat.completions",version="stable"} 1.0'
        in text
    )
    assert 'saferollout_request_duration_seconds_count{version="stable"} 1.0' in text
    assert "saferollout_gateway_overhead_seconds_count 1.0" in text
    assert "saferollout_records_dropped_total 0.0" in text


async def _load(url: str, n: int, concurrency: int) -> list[int]:
    """n requests, a third streamed, from `concurrency` parallel clients: the statuses."""
    return [status for status, _id in await send_chats(url, n, concurrency)]


def test_exactly_one_record_per_request_under_concurrency(
    backends: Callable[..., BackendHandle],
    gateway_factory: Callable[..., GatewayHandle],
    sqlite_store: Store,
) -> None:
    stable, canary = backends(), backends()
    gw = gateway_factory(make_config(stable.base_url, canary.base_url, weight=30))
    statuses = asyncio.run(_load(gw.url, 600, 32))
    assert statuses.count(200) == 600
    gw.stop()
    assert sqlite_store.count_interactions() == 600
    rows = sqlite_store.list_interactions(limit=1000)
    assert len({r["request_id"] for r in rows}) == 600
    assert sum(r["stream"] for r in rows) == 200


def test_shutdown_drains_in_flight_requests_and_flushes(
    backends: Callable[..., BackendHandle],
    gateway_factory: Callable[..., GatewayHandle],
    sqlite_store: Store,
) -> None:
    slow = backends(latency_ms=400)
    gw = gateway_factory(make_config(slow.base_url, slow.base_url, weight=0))

    async def scenario() -> list[int]:
        task = asyncio.create_task(_load(gw.url, 40, 40))
        # Stop only once all 40 are waiting on the slow model: requests that
        # had not reached the gateway yet would rightly be refused.
        for _ in range(200):
            if slow.stats().get("requests", 0) >= 40:
                break
            await asyncio.sleep(0.01)
        await asyncio.get_running_loop().run_in_executor(None, gw.stop)
        return await task

    statuses = asyncio.run(scenario())
    assert statuses.count(200) == 40
    assert sqlite_store.count_interactions() == 40


def test_client_leaving_mid_stream_is_recorded_once(
    backends: Callable[..., BackendHandle],
    gateway_factory: Callable[..., GatewayHandle],
    sqlite_store: Store,
) -> None:
    slow = backends(tokens_per_s=20)
    gw = gateway_factory(make_config(slow.base_url, slow.base_url, weight=0))
    with (
        httpx.Client(base_url=gw.url) as client,
        client.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as r,
    ):
        for line in r.iter_lines():
            if line.startswith("data:"):
                break  # leave after the first chunk
    assert wait_records(sqlite_store, 1) == 1
    time.sleep(0.3)
    [row] = sqlite_store.list_interactions()
    assert row["error_kind"] in ("client_disconnected", "stream_incomplete")
    assert sqlite_store.count_interactions() == 1


def test_redact_drop_keeps_no_text(
    backends: Callable[..., BackendHandle],
    gateway_factory: Callable[..., GatewayHandle],
    sqlite_store: Store,
) -> None:
    stable = backends()
    gw = gateway_factory(make_config(stable.base_url, stable.base_url, weight=0, redact="drop"))
    httpx.post(gw.url + "/v1/chat/completions", json=CHAT)
    assert wait_records(sqlite_store, 1) == 1
    [row] = sqlite_store.list_interactions()
    assert row["request_messages"] is None and row["response_text"] == ""
    assert row["completion_tokens"]  # counts survive, content does not


@pytest.mark.postgres
def test_records_on_postgresql(
    backends: Callable[..., BackendHandle],
    gateway_factory: Callable[..., GatewayHandle],
    pg_database_url: str,
) -> None:
    store = Store(pg_database_url)
    try:
        before = store.count_interactions()
        stable = backends()
        gw = gateway_factory(make_config(stable.base_url, stable.base_url, weight=50), store=store)
        statuses = asyncio.run(_load(gw.url, 200, 16))
        gw.stop()
        assert statuses.count(200) == 200
        assert store.count_interactions() - before == 200
    finally:
        store.close()


def test_version_settings_reach_the_upstream_and_not_the_retry(
    gateway_factory: Callable[..., GatewayHandle], sqlite_store: Store
) -> None:
    """Each version gets its own model, system prompt and parameters; a retry on
    stable gets stable's, not the failed candidate's."""
    from .conftest import start_echo_upstream

    with start_echo_upstream() as echo, start_echo_upstream(fail=True) as broken:
        cfg = make_config(echo.base_url, broken.base_url, weight=100)
        cfg.versions["canary"].system_prompt = "Be terse."
        cfg.versions["canary"].params = {"temperature": 0.1}
        cfg.versions["stable"].params = {"temperature": 0.9}
        gw = gateway_factory(cfg)
        body = {
            "messages": [
                {"role": "system", "content": "client prompt"},
                {"role": "user", "content": "hi"},
            ]
        }
        r = httpx.post(gw.url + "/v1/chat/completions", json=body)
        assert r.headers["X-Rollout-Version"] == "stable"
        sent_to_candidate = broken.received[-1]
        assert (
            sent_to_candidate["model"] == "model-canary" and sent_to_candidate["temperature"] == 0.1
        )
        assert sent_to_candidate["messages"][0] == {"role": "system", "content": "Be terse."}
        assert [m["role"] for m in sent_to_candidate["messages"]] == ["system", "user"]
        sent_to_stable = echo.received[-1]
        assert sent_to_stable["model"] == "model-stable" and sent_to_stable["temperature"] == 0.9
        assert sent_to_stable["messages"] == body["messages"]
