"""POST /v1/feedback and implicit feedback through a real gateway on loopback."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from saferollout.config import RolloutConfig, parse_config
from saferollout.gateway import Gateway, GatewayHandle, start_gateway
from saferollout.gateway._feedback import IMPLICIT_FLUSH_S
from saferollout.simulation import BackendHandle
from saferollout.store import Store

CHAT = {"model": "m", "messages": [{"role": "user", "content": "Explain photosynthesis briefly."}]}


def config(url: str, *, flush_s: float = 0.05, redact: str = "none") -> RolloutConfig:
    return parse_config(
        f"""
name: fb
versions:
  stable: {{url: "{url}", model: model-stable}}
  canary: {{url: "{url}", model: model-canary}}
stable: stable
candidate: canary
strategy: {{type: canary, steps: [{{weight: 50}}]}}
server: {{flush_interval_s: {flush_s}}}
logging: {{redact: {redact}}}
""",
        env={},
    )


@pytest.fixture
def start() -> Iterator[Callable[..., GatewayHandle]]:
    handles: list[GatewayHandle] = []

    def go(cfg: RolloutConfig, store: Store) -> GatewayHandle:
        handle = start_gateway(Gateway(cfg, store))
        handles.append(handle)
        return handle

    yield go
    for h in handles:
        h.stop()


def chat(gw: GatewayHandle, session: str = "s1", **body: Any) -> httpx.Response:
    r = httpx.post(
        gw.url + "/v1/chat/completions", json={**CHAT, **body}, headers={"X-Session-Id": session}
    )
    assert r.status_code == 200
    return r


def feedback_series(gw: GatewayHandle) -> dict[tuple[str, str, str], float]:
    text = httpx.get(gw.url + "/metrics").text
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "saferollout_feedback_total":
                out[(s.labels["version"], s.labels["kind"], s.labels["negative"])] = s.value
    return out


def wait_for(predicate: Callable[[], Any], timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def test_feedback_right_after_the_response_before_the_flush(
    store: Store,
    backends: Callable[..., BackendHandle],
    start: Callable[..., GatewayHandle],
) -> None:
    # The writer flushes every 10 s: the record is not in the store yet.
    gw = start(config(backends().base_url, flush_s=10), store)
    r = chat(gw)
    rid, version = r.headers["X-Request-Id"], r.headers["X-Rollout-Version"]
    fb = httpx.post(
        gw.url + "/v1/feedback",
        json={"request_id": rid, "rating": "down", "report": "incorrect", "comment": "wrong"},
    )
    assert fb.status_code == 200, fb.text
    assert fb.json()["negative"] is True and fb.json()["request_id"] == rid
    assert store.count_interactions() == 0  # joined from memory, not from the store
    [row] = store.list_feedback()
    assert (row["request_id"], row["version"], row["kind"], row["negative"]) == (
        rid,
        version,
        "explicit",
        True,
    )
    assert row["data"] == {"rating": "down", "report": "incorrect", "comment": "wrong"}
    assert feedback_series(gw) == {(version, "explicit", "true"): 1.0}
    again = httpx.post(gw.url + "/v1/feedback", json={"request_id": rid, "rating": 5})
    assert again.status_code == 409 and again.json()["error"]["code"] == "feedback_exists"
    assert store.feedback_counts() == {version: (1, 1)}


def test_feedback_after_restart_joins_through_the_store(
    store: Store,
    backends: Callable[..., BackendHandle],
    start: Callable[..., GatewayHandle],
) -> None:
    url = backends().base_url
    first = start(config(url), store)
    r = chat(first)
    first.stop()  # flushes; the new gateway has an empty memory
    second = start(config(url), store)
    fb = httpx.post(
        second.url + "/v1/feedback", json={"request_id": r.headers["X-Request-Id"], "rating": 4}
    )
    assert fb.status_code == 200, fb.text
    assert fb.json()["negative"] is False
    assert store.feedback_counts() == {r.headers["X-Rollout-Version"]: (1, 0)}


BAD_BODIES = [
    (b"not json", "invalid_json"),
    (b"[1]", "invalid_body"),
    ({"rating": "up"}, "invalid_request_id"),
    ({"request_id": "", "rating": "up"}, "invalid_request_id"),
    ({"request_id": 7, "rating": "up"}, "invalid_request_id"),
    ({"request_id": "x" * 65, "rating": "up"}, "invalid_request_id"),
    ({"request_id": "RID"}, "invalid_rating"),
    ({"request_id": "RID", "rating": "meh"}, "invalid_rating"),
    ({"request_id": "RID", "rating": 0}, "invalid_rating"),
    ({"request_id": "RID", "rating": 6}, "invalid_rating"),
    ({"request_id": "RID", "rating": 3.5}, "invalid_rating"),
    ({"request_id": "RID", "rating": True}, "invalid_rating"),
    ({"request_id": "RID", "rating": "up", "report": "spam"}, "invalid_report"),
    ({"request_id": "RID", "rating": "up", "comment": 5}, "invalid_comment"),
    ({"request_id": "RID", "rating": "up", "comment": "x" * 2001}, "invalid_comment"),
    ({"request_id": "RID", "rating": "up", "stars": 5}, "unknown_field"),
]


def test_bad_feedback_is_400_and_stores_nothing(
    sqlite_store: Store,
    backends: Callable[..., BackendHandle],
    start: Callable[..., GatewayHandle],
) -> None:
    gw = start(config(backends().base_url), sqlite_store)
    rid = chat(gw).headers["X-Request-Id"]
    for body, code in BAD_BODIES:
        if isinstance(body, dict):
            body = {k: (rid if v == "RID" else v) for k, v in body.items()}
            r = httpx.post(gw.url + "/v1/feedback", json=body)
        else:
            r = httpx.post(gw.url + "/v1/feedback", content=body)
        assert r.status_code == 400, (body, r.text)
        err = r.json()["error"]
        assert err["code"] == code and err["type"] == "invalid_request_error", (body, err)
        assert err["message"]
    assert sqlite_store.list_feedback() == []
    assert feedback_series(gw) == {}


def test_unknown_request_id_is_404(
    sqlite_store: Store,
    backends: Callable[..., BackendHandle],
    start: Callable[..., GatewayHandle],
) -> None:
    gw = start(config(backends().base_url), sqlite_store)
    for rid in ("req_doesnotexist", "shd_0123"):
        r = httpx.post(gw.url + "/v1/feedback", json={"request_id": rid, "rating": "down"})
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "request_not_found"
        assert rid in r.json()["error"]["message"]
    assert sqlite_store.list_feedback() == []


def test_comment_is_masked_when_redacting_pii(
    sqlite_store: Store,
    backends: Callable[..., BackendHandle],
    start: Callable[..., GatewayHandle],
) -> None:
    gw = start(config(backends().base_url, redact="pii"), sqlite_store)
    rid = chat(gw).headers["X-Request-Id"]
    comment = "call me at jane.doe@example.com"
    r = httpx.post(
        gw.url + "/v1/feedback", json={"request_id": rid, "rating": 2, "comment": comment}
    )
    assert r.status_code == 200
    [row] = sqlite_store.list_feedback()
    assert "jane.doe@example.com" not in row["data"]["comment"]
    assert "<EMAIL_ADDRESS>" in row["data"]["comment"]


def test_regenerating_the_same_prompt_is_implicit_negative_feedback(
    sqlite_store: Store,
    backends: Callable[..., BackendHandle],
    start: Callable[..., GatewayHandle],
) -> None:
    gw = start(config(backends().base_url), sqlite_store)
    first = chat(gw, session="alice").headers["X-Request-Id"]
    chat(gw, session="bob")  # the same prompt from another user: no signal
    second = chat(gw, session="alice").headers["X-Request-Id"]  # alice regenerates
    # A new turn (different prompt) is not a regeneration.
    chat(gw, session="alice", messages=[{"role": "user", "content": "And in plants?"}])
    wait_for(lambda: sqlite_store.list_feedback())
    time.sleep(IMPLICIT_FLUSH_S + 0.2)  # time for a wrong second signal to land
    rows = sqlite_store.list_feedback()
    assert len(rows) == 1, rows
    [row] = rows
    assert (row["request_id"], row["kind"], row["negative"]) == (first, "implicit", True)
    assert row["data"] == {"signal": "regenerated", "regenerated_by": second}
    version = row["version"]
    assert feedback_series(gw) == {(version, "implicit", "true"): 1.0}


def test_abandoned_stream_is_implicit_negative_feedback(
    sqlite_store: Store,
    backends: Callable[..., BackendHandle],
    start: Callable[..., GatewayHandle],
) -> None:
    slow = backends(tokens_per_s=20)
    gw = start(config(slow.base_url), sqlite_store)
    with (
        httpx.Client(base_url=gw.url) as client,
        client.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as r,
    ):
        rid = r.headers["X-Request-Id"]
        for line in r.iter_lines():
            if line.startswith("data:"):
                break  # leave after the first chunk
    [row] = wait_for(lambda: sqlite_store.list_feedback())
    assert (row["request_id"], row["kind"], row["negative"]) == (rid, "implicit", True)
    assert row["data"] == {"signal": "abandoned"}
    # A stream read to the end is no signal.
    with httpx.Client(base_url=gw.url) as client:
        fast = client.post("/v1/chat/completions", json={**CHAT, "stream": True, "max_tokens": 3})
        assert fast.status_code == 200
    time.sleep(IMPLICIT_FLUSH_S + 0.3)
    assert len(sqlite_store.list_feedback()) == 1


def test_feedback_during_a_stream_joins_the_answering_version(
    sqlite_store: Store,
    backends: Callable[..., BackendHandle],
    start: Callable[..., GatewayHandle],
) -> None:
    """A stream's client knows its request id from the headers on, long before
    the record exists anywhere else: its feedback must be taken then."""
    slow = backends(tokens_per_s=20)
    gw = start(config(slow.base_url), sqlite_store)
    with (
        httpx.Client(base_url=gw.url) as client,
        client.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as r,
    ):
        rid, version = r.headers["X-Request-Id"], r.headers["X-Rollout-Version"]
        lines = r.iter_lines()
        next(line for line in lines if line.startswith("data:"))
        sent = httpx.post(gw.url + "/v1/feedback", json={"request_id": rid, "rating": "up"})
        assert sent.status_code == 200, sent.text
        assert sqlite_store.get_interaction(rid) is None  # still streaming: not stored yet
        for _ in lines:  # read it to the end: no abandoned signal
            pass
    [row] = wait_for(lambda: sqlite_store.list_feedback())
    assert (row["request_id"], row["version"], row["kind"]) == (rid, version, "explicit")


def test_implicit_signals_batched_at_shutdown_are_all_stored(
    sqlite_store: Store,
    backends: Callable[..., BackendHandle],
) -> None:
    """Signals wait up to IMPLICIT_FLUSH_S in memory; a stop right after must store them."""
    gw = start_gateway(Gateway(config(backends().base_url), sqlite_store))
    firsts = set()
    for i in range(30):
        firsts.add(chat(gw, session=f"user-{i}").headers["X-Request-Id"])
        chat(gw, session=f"user-{i}")  # regenerates: the first answer gets the signal
    gw.stop()
    rows = sqlite_store.list_feedback()
    assert {r["request_id"] for r in rows} == firsts
    assert all(r["data"]["signal"] == "regenerated" for r in rows)
