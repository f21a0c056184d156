"""Transport faults of the candidate, through the real gateway on loopback.

tests/gateway/test_gateway.py covers a 5xx JSON body, a refused connection and
a timeout before the answer. This suite adds what a model server in trouble
does besides: connection resets before and mid-body, stalls mid-stream, HTML
5xx bodies, malformed JSON and SSE, streams without `[DONE]`, for plain and
streamed calls, with and without `retry_on_stable`. For each: what the client
sees (bounded in time), exactly one record with the right `error_kind`, and
that no broken stream is recorded as a success.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest

from saferollout.gateway import Gateway, GatewayHandle, start_gateway
from saferollout.simulation import BackendHandle
from saferollout.store import Store

from ..gateway.conftest import make_config
from .conftest import wait_records
from .fault_upstream import FaultUpstream

TIMEOUT_S = 0.25  # the candidate's timeout_s: total for a plain call, silence for a stream
CHAT = {"model": "m", "messages": [{"role": "user", "content": "Tell me a fact."}]}
PER_CASE = 4  # concurrent requests per case


@dataclass(frozen=True)
class Expect:
    status: int
    served_by: str  # X-Rollout-Version and the record's version
    error_kind: str | None
    code: str | None = None  # the OpenAI-style error code the client gets
    retry_reason: str | None = None  # set when the candidate failed and stable answered


# Faults before any byte reached the client: an OpenAI-style error, or stable's answer.
BEFORE_FIRST_BYTE = {
    ("5xx_html", False): Expect(502, "canary", "upstream_5xx", "upstream_error"),
    ("5xx_html", True): Expect(502, "canary", "upstream_5xx", "upstream_error"),
    ("hang", False): Expect(504, "canary", "timeout", "upstream_timeout"),
    ("hang", True): Expect(504, "canary", "timeout", "upstream_timeout"),
    ("reset_before", False): Expect(502, "canary", "upstream_error", "upstream_error"),
    ("reset_before", True): Expect(502, "canary", "upstream_error", "upstream_error"),
    ("reset_mid_body", False): Expect(502, "canary", "upstream_error", "upstream_error"),
    ("stall_mid_stream", False): Expect(504, "canary", "timeout", "upstream_timeout"),
}
# Faults after the first byte was sent: nothing can be retried; the record says what broke.
AFTER_FIRST_BYTE = {
    ("reset_mid_body", True): Expect(200, "canary", "stream_broken"),
    ("stall_mid_stream", True): Expect(200, "canary", "stream_broken"),
    ("no_done", True): Expect(200, "canary", "stream_incomplete"),
}


def cases() -> Iterator[object]:
    for (fault, stream), expect in BEFORE_FIRST_BYTE.items():
        kind = "stream" if stream else "plain"
        yield pytest.param(fault, stream, False, expect, id=f"{fault}-{kind}-no_retry")
        retried = Expect(200, "stable", None, retry_reason=expect.error_kind)
        yield pytest.param(fault, stream, True, retried, id=f"{fault}-{kind}-retry")
    for (fault, stream), expect in AFTER_FIRST_BYTE.items():
        for retry in (False, True):
            name = "retry" if retry else "no_retry"
            yield pytest.param(fault, stream, retry, expect, id=f"{fault}-stream-{name}")
    # A 4xx is the client's problem: passed through, never retried.
    for retry in (False, True):
        yield pytest.param(
            "429", False, retry, Expect(429, "canary", "upstream_4xx"), id=f"429-plain-{retry}"
        )


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[FaultUpstream, BackendHandle]]:
    from saferollout.simulation import start_backend

    from .conftest import CALM

    with FaultUpstream() as faulty, start_backend(CALM, latency_ms=1, seed=1) as stable:
        yield faulty, stable


@pytest.fixture(scope="module")
def gateways(
    upstreams: tuple[FaultUpstream, BackendHandle], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[bool, tuple[GatewayHandle, Store]]]:
    """Two gateways, the candidate at 100%: one retries on stable, one does not."""
    faulty, stable = upstreams
    out: dict[bool, tuple[GatewayHandle, Store]] = {}
    for retry in (False, True):
        db: Path = tmp_path_factory.mktemp("faults") / "gw.db"
        store = Store(f"sqlite:///{db}")
        cfg = make_config(
            stable.base_url,
            faulty.base_url,
            weight=100,
            timeout_s=TIMEOUT_S,
            retry_on_stable=retry,
        )
        out[retry] = (start_gateway(Gateway(cfg, store)), store)
    yield out
    for handle, store in out.values():
        handle.stop()
        store.close()


async def _send(url: str, stream: bool) -> list[tuple[httpx.Response, float]]:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:

        async def one() -> tuple[httpx.Response, float]:
            started = time.monotonic()
            r = await client.post("/v1/chat/completions", json={**CHAT, "stream": stream})
            return r, time.monotonic() - started

        return await asyncio.gather(*(one() for _ in range(PER_CASE)))


def errors_total(url: str, kind: str) -> float:
    prefix = f'saferollout_errors_total{{kind="{kind}",version="canary"}} '
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    return 0.0


@pytest.mark.parametrize(("fault", "stream", "retry", "expect"), list(cases()))
def test_client_sees_a_bounded_answer_and_one_record_says_what_failed(
    upstreams: tuple[FaultUpstream, BackendHandle],
    gateways: dict[bool, tuple[GatewayHandle, Store]],
    fault: str,
    stream: bool,
    retry: bool,
    expect: Expect,
) -> None:
    faulty, _ = upstreams
    gw, store = gateways[retry]
    faulty.set(fault)
    before = store.count_interactions()
    broken_before = errors_total(gw.url, "stream_broken")
    answers = asyncio.run(_send(gw.url, stream))

    for r, elapsed in answers:
        # Bounded: at worst the candidate's timeout, then stable's answer.
        assert elapsed < TIMEOUT_S + 2.0, (fault, elapsed)
        assert r.status_code == expect.status, r.text
        assert r.headers["X-Rollout-Version"] == expect.served_by
        if expect.code is not None:
            assert r.json()["error"]["code"] == expect.code
            assert r.json()["error"]["message"]
        if stream and r.status_code == 200:
            done = r.text.rstrip().endswith("data: [DONE]")
            assert done is (expect.error_kind is None), r.text[-200:]

    assert wait_records(store, before + PER_CASE) == before + PER_CASE
    time.sleep(0.1)  # two flush intervals: nothing more arrives
    assert store.count_interactions() == before + PER_CASE
    for r, _ in answers:
        row = store.get_interaction(r.headers["X-Request-Id"])
        assert row is not None
        assert row["version"] == expect.served_by and row["stream"] is stream
        assert row["status_code"] == expect.status
        assert row["error_kind"] == expect.error_kind
        if expect.retry_reason is not None:
            assert row["retried_from"] == "canary"
            assert row["extra"]["retry_reason"] == expect.retry_reason
            assert row["response_text"]  # stable's full answer was recorded
        else:
            assert row["retried_from"] is None
    if expect.error_kind == "stream_broken":
        assert errors_total(gw.url, "stream_broken") == broken_before + PER_CASE


def _one_request(
    gateways: dict[bool, tuple[GatewayHandle, Store]], stream: bool
) -> tuple[httpx.Response, dict[str, object]]:
    gw, store = gateways[True]
    before = store.count_interactions()
    r = httpx.post(gw.url + "/v1/chat/completions", json={**CHAT, "stream": stream}, timeout=10)
    assert wait_records(store, before + 1) == before + 1
    row = store.get_interaction(r.headers["X-Request-Id"])
    assert row is not None
    return r, row


def test_a_200_with_a_malformed_json_body_is_recorded_as_an_error(
    upstreams: tuple[FaultUpstream, BackendHandle],
    gateways: dict[bool, tuple[GatewayHandle, Store]],
) -> None:
    upstreams[0].set("bad_json")
    r, row = _one_request(gateways, stream=False)
    assert r.status_code == 200  # passed through: the gateway does not parse on the hot path
    assert row["response_text"] == ""
    assert row["error_kind"] is not None


def test_a_stream_of_malformed_events_is_recorded_as_an_error(
    upstreams: tuple[FaultUpstream, BackendHandle],
    gateways: dict[bool, tuple[GatewayHandle, Store]],
) -> None:
    upstreams[0].set("bad_sse")
    r, row = _one_request(gateways, stream=True)
    assert r.status_code == 200 and "not json" in r.text
    assert row["response_text"] == ""
    assert row["error_kind"] is not None


def test_the_openai_client_is_told_when_a_stream_breaks(
    upstreams: tuple[FaultUpstream, BackendHandle],
    gateways: dict[bool, tuple[GatewayHandle, Store]],
) -> None:
    upstreams[0].set("reset_mid_body")
    gw, _ = gateways[False]
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)
    try:
        stream = client.chat.completions.create(model="m", messages=CHAT["messages"], stream=True)
        with pytest.raises((openai.APIError, openai.APIConnectionError)):
            for _chunk in stream:
                pass
    finally:
        client.close()
