"""The interaction rollup: windows read from it equal windows read from the rows."""

from __future__ import annotations

import dataclasses
import math
import random
import threading

import pytest
import sqlalchemy as sa

from saferollout.store import (
    FLAG_COLUMNS,
    InteractionRecord,
    ScoreUpdate,
    Store,
    _aggregates,
    _rollup,
)
from saferollout.store import _schema as s

T0 = 1_700_000_000.0


def _records(rng: random.Random, n: int, span_s: float) -> list[InteractionRecord]:
    out = []
    for i in range(n):
        version = rng.choice(["stable", "canary", "canary", "blue"])
        retried = version == "stable" and rng.random() < 0.1
        out.append(
            InteractionRecord(
                request_id=f"req_{i:06d}",
                created_at=T0 + rng.random() * span_s,
                version=version,
                endpoint="chat.completions",
                status_code=200,
                latency_ms=rng.choice([0.0, 3.5, 24.999, 25.0, 480.0, 2500.0, 45_000.0]),
                error_kind=rng.choice([None] * 6 + ["timeout", "client_disconnected"]),
                shadow=version == "blue" and rng.random() < 0.5,
                retried_from="canary" if retried else None,
            )
        )
    return out


def _raw(
    store: Store, since: float, until: float | None
) -> dict[str, _aggregates.VersionAggregate]:
    """The window summed from the rows alone, as before the rollup existed."""
    out: dict[str, _aggregates.VersionAggregate] = {}
    with store.engine.connect() as conn:
        _aggregates._add_rows(conn, out, since, until)
        _aggregates._add_feedback(conn, out, since, until)
    return out


def _same(got: dict, want: dict, where: str) -> None:
    assert sorted(got) == sorted(want), where
    for version, w in want.items():
        g = dataclasses.asdict(got[version])
        w = dataclasses.asdict(w)
        for name in ("latency_sum", "latency_sumsq"):
            assert g.pop(name) == pytest.approx(w.pop(name), rel=1e-9, abs=1e-6), (where, name)
        assert g == w, (where, version)


def test_windows_from_the_rollup_equal_windows_from_the_rows(store: Store) -> None:
    rng = random.Random(7)
    span = 3 * 3600 + 1234.5  # crosses hours, minutes and seconds
    records = _records(rng, 1500, span)
    assert store.insert_interactions(records[:400] + records[:3]) == 400  # ids twice in a batch
    for i in range(400, len(records), 400):
        store.insert_interactions(records[i : i + 400])
    store.insert_interactions(records[:50])  # a resent batch adds nothing
    picked = rng.sample(records, 600)
    store.write_scores(
        [
            ScoreUpdate(r.request_id, {}, {}, {f: rng.random() < 0.3 for f in FLAG_COLUMNS})
            for r in picked
        ]
    )
    store.add_feedback(
        records[-1].request_id, "canary", kind="explicit", negative=True, data={"rating": "down"}
    )
    # Retention takes the first 20 minutes, mid-second.
    while store.delete_interactions_before(T0 + 1200.25, batch=300):
        pass

    windows = [(T0, None), (T0 - 5, None), (T0 + 1200.25, None), (T0 + 0.5, T0 + 0.9)]
    for _ in range(40):
        a = T0 + rng.random() * span
        b = a + rng.choice([0.3, 5, 61.5, 600, 3700, 9000]) * rng.random()
        windows.append((a, b))
        windows.append((float(math.floor(a)), float(math.ceil(b))))
    for since, until in windows:
        _same(
            store.aggregate_versions(since=since, until=until),
            _raw(store, since, until),
            f"{since}..{until}",
        )
    total = store.aggregate_versions(since=0)
    assert sum(a.latency_n for a in total.values()) == store.count_interactions()


def test_windows_are_read_from_the_rollup_not_the_rows(store: Store) -> None:
    """What makes a tick cheap: whole seconds come from the rollup rows."""
    records = _records(random.Random(1), 200, 300.0)
    store.insert_interactions(records)
    before = store.aggregate_versions(since=T0)
    with store.engine.begin() as conn:  # the rows go, the rollup stays
        conn.execute(sa.delete(s.interactions).where(s.interactions.c.created_at >= T0 + 1))
    after = store.aggregate_versions(since=T0)
    assert sum(a.latency_n for a in after.values()) == sum(a.latency_n for a in before.values())
    assert store.aggregate_versions(since=T0 + 0.5, until=T0 + 0.99) == _raw(
        store, T0 + 0.5, T0 + 0.99
    )


def test_a_record_is_scored_once(store: Store) -> None:
    store.insert_interactions(_records(random.Random(2), 1, 1.0))
    rid = "req_000000"
    store.write_scores([ScoreUpdate(rid, {"toxicity": 0.9}, {}, {"safety_violation": True})])
    # A second worker whose claim expired scores it again: the first scores stay.
    store.write_scores([ScoreUpdate(rid, {"toxicity": 0.1}, {}, {"safety_violation": False})])
    aggs = store.aggregate_versions(since=0).values()
    assert sum(a.scored for a in aggs) == 1
    assert sum(a.flags["safety_violation"] for a in aggs) == 1
    assert store.get_interaction(rid)["scores"] == {"toxicity": 0.9}


def test_retention_leaves_no_empty_rollup_rows(store: Store) -> None:
    store.insert_interactions(_records(random.Random(3), 300, 7200.0))
    while store.delete_interactions_before(T0 + 10_000):
        pass
    with store.engine.connect() as conn:
        left = conn.execute(sa.select(sa.func.count()).select_from(s.interaction_rollup)).scalar()
    assert left == 0
    assert store.aggregate_versions(since=0) == {}


def test_upgrade_from_schema_1_fills_the_rollup(store_url: str) -> None:
    store = Store(store_url)
    records = _records(random.Random(4), 500, 5000.0)
    store.insert_interactions(records)
    store.write_scores(
        [ScoreUpdate(r.request_id, {}, {}, {"pii_leak": True}) for r in records[:40]]
    )
    want = store.aggregate_versions(since=T0 + 100.5)
    with store.engine.begin() as conn:  # what a schema-1 database looks like
        conn.execute(sa.delete(s.interaction_rollup))
        conn.execute(sa.update(s.meta).values(value="1"))
    store.close()

    upgraded, again = Store(store_url), Store(store_url)  # a second start does nothing more
    try:
        assert upgraded.schema_version() == s.SCHEMA_VERSION
        _same(upgraded.aggregate_versions(since=T0 + 100.5), want, "after upgrade")
        _same(again.aggregate_versions(since=T0 + 100.5), want, "after a second start")
    finally:
        upgraded.close()
        again.close()


@pytest.mark.parametrize("seed", range(5))
def test_split_window_covers_every_second_once(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        since = rng.uniform(0, 20_000)
        until = None if rng.random() < 0.2 else since + rng.uniform(0, 15_000)
        edges, pieces = _rollup.split_window(since, until)
        top = math.ceil(until if until is not None else since + 20_000)
        covered: list[int] = []
        for width, start, end in pieces:
            assert start % width == 0 and (end is None or end % width == 0)
            covered += range(start, top if end is None else end)
        # Whole seconds inside the window, each in exactly one piece.
        lo = math.ceil(since)
        hi = top if until is None else math.floor(until)
        assert sorted(covered) == list(range(lo, hi)) or (not pieces and hi <= lo)
        # Edges: only fractional seconds, inside the window.
        for a, b in edges:
            assert since <= a < b and (until is None or b <= until) and b - a < 2
        assert len(pieces) <= 2 * len(_rollup.WIDTHS) - 1


def test_a_batch_racing_another_writer_is_refused_whole(store_url: str) -> None:
    """A dead writer's COMMIT may land after our read of stored ids: the batch is
    refused whole, and inserting it again adds only what is new."""
    from saferollout.store import ConcurrentInsert
    from saferollout.store._store import _record_row

    ours, other = Store(store_url), Store(store_url)
    x, y = _records(random.Random(5), 2, 10.0)
    inserted, release = threading.Event(), threading.Event()

    def other_writer() -> None:
        with other.engine.begin() as conn:  # commits when the block ends
            conn.exec_driver_sql(other._insert_sql, [_record_row(x)])
            inserted.set()
            release.wait(10)

    thread = threading.Thread(target=other_writer)
    thread.start()
    try:
        assert inserted.wait(10)
        threading.Timer(0.3, release.set).start()  # our insert waits on its lock meanwhile
        with pytest.raises(ConcurrentInsert, match="1 of 2 request ids"):
            ours.insert_interactions([x, y])
    finally:
        release.set()
        thread.join()
    assert ours.get_interaction(y.request_id) is None  # nothing of the batch was written
    assert ours.insert_interactions([x, y]) == 1
    try:
        # x came in without the rollup (the other writer was raw SQL), y with it.
        with ours.engine.connect() as conn:
            rollup_rows = conn.execute(
                sa.select(sa.func.sum(s.interaction_rollup.c.rows)).where(
                    s.interaction_rollup.c.width == 1
                )
            ).scalar()
        assert rollup_rows == 1
    finally:
        ours.close()
        other.close()
