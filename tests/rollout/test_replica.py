"""Replicas sharing one store: one leader by lease, followers follow, actions are forwarded.

Two controllers in one process on the same database stand in for two gateway
replicas (the multi-process version runs `serve` in tests/scaleout/).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from saferollout.rollout import Controller, Decision, InvalidAction, Phase, Replica
from saferollout.store import Store

from .test_controller import Routing, ScriptedJudge, config


def wait_until(check: Callable[[], bool], timeout: float = 5.0) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)
    return time.monotonic() - start


class Node:
    def __init__(self, url: str, name: str, judge: ScriptedJudge, sync_s: float = 0.05) -> None:
        self.store = Store(url)
        self.routing = Routing()
        self.controller = Controller(
            config("[{weight: 10}, {pause: {}}, {weight: 50}]"),
            self.store,
            judge,
            apply_routing=self.routing,
        )
        self.replica = Replica(
            self.controller,
            interval_s=0.1,
            holder=name,
            lease_ttl_s=1.0,
            renew_s=0.2,
            sync_s=sync_s,
            command_timeout_s=5.0,
        )

    def weights(self) -> dict[str, float]:
        return self.routing.last[1]

    def close(self) -> None:
        self.replica.stop()
        self.store.close()


@pytest.fixture
def nodes(store_url: str) -> Iterator[tuple[Node, Node, ScriptedJudge]]:
    judge = ScriptedJudge()
    judge.decision = Decision.HOLD
    a = Node(store_url, "a", judge)
    b = Node(store_url, "b", judge)
    a.replica.start()
    wait_until(lambda: a.replica.is_leader)
    b.replica.start()
    yield a, b, judge
    a.close()
    b.close()


def test_one_leader_and_the_follower_follows_a_rollback(nodes) -> None:
    a, b, judge = nodes
    time.sleep(0.5)
    assert a.replica.is_leader and not b.replica.is_leader
    assert b.weights() == {"canary": 10.0}
    judge.decision = Decision.ROLLBACK
    wait_until(lambda: a.controller.state.phase is Phase.ROLLED_BACK)
    took = wait_until(lambda: b.weights() == {"canary": 0.0}, timeout=1.0)
    assert took < 1.0
    assert b.controller.state.phase is Phase.ROLLED_BACK


def test_an_action_on_the_follower_is_run_by_the_leader(nodes) -> None:
    a, b, _judge = nodes
    b.replica.act("promote", actor="admin:test")
    assert a.controller.state.step_index == 1
    assert b.controller.state.step_index == 1  # the follower answers with the new state
    b.replica.act("promote", actor="admin:test")
    wait_until(lambda: b.weights() == {"canary": 50.0})
    b.replica.act("abort", actor="admin:test")
    with pytest.raises(InvalidAction, match="aborted"):
        b.replica.act("pause", actor="admin:test")
    events = a.store.list_events("r1")
    assert [e["actor"] for e in events if e["kind"] == "aborted"] == ["admin:test"]


def test_takeover_after_the_leader_dies_and_the_old_token_is_fenced(nodes) -> None:
    a, b, judge = nodes
    old_token = a.replica.token
    # The leader dies without releasing (kill -9): its loop stops, the lease just expires.
    a.replica._stop.set()
    a.replica._thread.join(5)
    took = wait_until(lambda: b.replica.is_leader, timeout=5.0)
    assert took < 3.0
    assert b.replica.token == old_token + 1
    judge.decision = Decision.ROLLBACK
    wait_until(lambda: b.controller.state.phase is Phase.ROLLED_BACK)
    # The deposed leader wakes up and tries to act: the store refuses, the operator is
    # told, and its state reloads to what the new leader decided.
    with pytest.raises(InvalidAction, match="changed while acting"):
        a.controller.act("promote", actor="admin:zombie")
    assert a.controller.state.phase is Phase.ROLLED_BACK
    with pytest.raises(TimeoutError, match="shutting down"):
        a.replica.act("promote", actor="admin:late")
    events = b.store.list_events("r1")
    assert not [e for e in events if e["actor"] == "admin:zombie"]
    fences = [e["data"].get("fence") for e in events if e["kind"] != "rollout_started"]
    assert fences and all(f in (old_token, old_token + 1) for f in fences)
    assert fences == sorted(fences)


def test_the_leader_applies_retention(store_url: str) -> None:
    from saferollout.store import InteractionRecord

    cfg = config("[{weight: 10}]").model_copy(deep=True)
    cfg.storage.retention.max_rows = 1000
    cfg.storage.retention.interval_s = 1.0
    store = Store(store_url)
    store.insert_interactions(
        [
            InteractionRecord(
                request_id=f"req_{i}",
                created_at=1000.0 + i,
                version="stable",
                endpoint="chat.completions",
                status_code=200,
                latency_ms=1.0,
            )
            for i in range(1100)
        ]
    )
    controller = Controller(cfg, store, ScriptedJudge(), apply_routing=Routing())
    replica = Replica(controller, interval_s=0.1, holder="solo", renew_s=0.1, sync_s=0.05)
    replica.start()
    try:
        wait_until(lambda: store.count_interactions() == 1000, timeout=10)
        assert store.get_interaction("req_99") is None and store.get_interaction("req_100")
    finally:
        replica.stop()
        store.close()


@pytest.mark.postgres
def test_postgresql_followers_are_woken_by_notify_not_polling(pg_database_url: str) -> None:
    from ..conftest import _truncate

    _truncate(pg_database_url)
    judge = ScriptedJudge()
    judge.decision = Decision.HOLD
    leader = Node(pg_database_url, "a", judge)
    leader.replica.start()
    wait_until(lambda: leader.replica.is_leader)
    follower = Node(pg_database_url, "b", judge, sync_s=5.0)  # polling alone: up to 5 s
    follower.replica.start()
    try:
        time.sleep(1.0)  # the follower's first poll and its LISTEN are in place
        assert follower.weights() == {"canary": 10.0}
        leader.replica.act("rollback", actor="admin:test")
        took = wait_until(lambda: follower.weights() == {"canary": 0.0}, timeout=4.0)
        assert took < 1.0
    finally:
        leader.close()
        follower.close()
