"""Leader lease with fencing tokens, forwarded admin commands, retention: both databases."""

from __future__ import annotations

import threading
import time

import pytest

from saferollout.store import InteractionRecord, StaleState, Store


def test_only_one_holder_and_token_grows_on_takeover(store: Store) -> None:
    assert store.acquire_lease("leader", "a", ttl_s=0.3) == 1
    assert store.acquire_lease("leader", "b", ttl_s=0.3) is None
    assert store.acquire_lease("leader", "a", ttl_s=0.3) == 1  # renewal keeps the token
    time.sleep(0.35)
    assert store.acquire_lease("leader", "b", ttl_s=5) == 2  # expired: taken over
    assert store.acquire_lease("leader", "a", ttl_s=5) is None
    store.release_lease("leader", "b")
    assert store.acquire_lease("leader", "a", ttl_s=5) == 3


def test_concurrent_acquirers_get_one_winner(store: Store) -> None:
    winners: list[str] = []
    barrier = threading.Barrier(6)

    def contend(name: str) -> None:
        barrier.wait()
        if store.acquire_lease("race", name, ttl_s=30) is not None:
            winners.append(name)

    threads = [threading.Thread(target=contend, args=(f"r{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    assert store.lease_info("race")["holder"] == winners[0]


def test_fenced_write_from_a_deposed_leader_is_refused(store: Store) -> None:
    token_a = store.acquire_lease("leader", "a", ttl_s=0.2)
    rev = store.save_state("r", {"v": 1}, expected_revision=0, fence=("leader", token_a))
    time.sleep(0.25)
    token_b = store.acquire_lease("leader", "b", ttl_s=5)
    assert token_b == token_a + 1
    with pytest.raises(StaleState, match="no longer held"):
        store.save_state("r", {"v": "stale"}, expected_revision=rev, fence=("leader", token_a))
    assert store.load_state("r") == (rev, {"v": 1})
    assert store.save_state("r", {"v": 2}, expected_revision=rev, fence=("leader", token_b)) == 2


def test_commands_finish_once(store: Store) -> None:
    cid = store.enqueue_command("r", "pause", actor="admin:x", body={"reason": "why"})
    [pending] = store.pending_commands("r")
    assert (pending["id"], pending["action"], pending["body"]) == (cid, "pause", {"reason": "why"})
    assert store.finish_command(cid, "done", {"status": 200}) is True
    assert store.finish_command(cid, "failed", {"status": 500}) is False
    assert store.get_command(cid)["result"] == {"status": 200}
    assert store.pending_commands("r") == []


def _records(n: int, start: float) -> list[InteractionRecord]:
    return [
        InteractionRecord(
            request_id=f"req_{i}",
            created_at=start + i,
            version="stable",
            endpoint="chat.completions",
            status_code=200,
            latency_ms=1.0,
        )
        for i in range(n)
    ]


def test_retention_deletes_in_batches_oldest_first(store: Store) -> None:
    store.insert_interactions(_records(25, 1000.0))
    store.add_feedback("req_0", "stable", kind="explicit", negative=True, data={})
    store.add_feedback("req_24", "stable", kind="explicit", negative=True, data={})
    cutoff = store.retention_cutoff(max_rows=10)
    assert cutoff is not None and 1014.0 < cutoff < 1015.0
    deleted = []
    while n := store.delete_interactions_before(cutoff, batch=4):
        assert n <= 4
        deleted.append(n)
    assert sum(deleted) == 15 and len(deleted) == 4
    assert store.count_interactions() == 10
    assert store.get_interaction("req_14") is None and store.get_interaction("req_15")
    assert [f["request_id"] for f in store.list_feedback()] == ["req_24"]
    assert store.retention_cutoff(max_rows=10) is None


def test_judgement_is_upserted(store: Store) -> None:
    assert store.get_judgement("r") is None
    store.put_judgement("r", {"decision": "hold"})
    store.put_judgement("r", {"decision": "rollback"})
    assert store.get_judgement("r") == {"decision": "rollback"}


def test_apply_retention_by_age_and_rows(store: Store) -> None:
    from saferollout.store import apply_retention

    store.insert_interactions(_records(30, 1000.0))
    # By age: "now" is 1020 and one day is far more than 20 s: nothing is old enough...
    assert apply_retention(store, days=1.0, max_rows=None, now=1020.0) == 0
    # ...by rows, keep the newest 1000 (of 30): nothing; then a tiny cap.
    assert apply_retention(store, days=None, max_rows=1000) == 0
    assert apply_retention(store, days=None, max_rows=12, batch_size=5, pause_s=0) == 18
    assert store.count_interactions() == 12
    # By age with a clock a day past the records: all go.
    assert apply_retention(store, days=1.0, max_rows=None, now=1000.0 + 86400 + 31) == 12
    assert store.count_interactions() == 0
