"""What one controller tick reads: a rollout window from the rollup vs from the rows.

Run by hand (see bench/README.md):

    .venv/bin/python bench/aggregates.py                  # SQLite, up to 1M rows
    .venv/bin/python bench/aggregates.py --rows 200000 --url postgresql://postgres@127.0.0.1/EMPTY_DB

Inserts interactions as the gateway would at 1,000 req/s (two versions, a
tenth scored), and at each checkpoint times, side by side, the window the
controller reads every tick (`Store.aggregate_versions(since=rollout start)`,
whole seconds from the rollup, the fractional edge from the rows) and the same
sums read from every row of the window (what a tick cost before the rollup).
Also prints the insert cost per record, rollup upkeep included.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from saferollout.store import InteractionRecord, ScoreUpdate, Store, _aggregates

RATE = 1000  # requests per simulated second
BATCH = 1000


def records(start: int, n: int, t0: float, rng: random.Random) -> list[InteractionRecord]:
    return [
        InteractionRecord(
            request_id=f"req_{i:09d}",
            created_at=t0 + i / RATE,
            version="candidate" if rng.random() < 0.1 else "stable",
            endpoint="chat.completions",
            status_code=200,
            latency_ms=rng.lognormvariate(4, 0.5),
            session_id=f"s{i // 4}",
            request_messages=[{"role": "user", "content": f"question {i}"}],
            response_text="an answer of a few words",
            error_kind="timeout" if rng.random() < 0.01 else None,
        )
        for i in range(start, start + n)
    ]


def timed(fn, repeat: int = 5) -> float:
    """Median seconds of `repeat` calls."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def raw_window(store: Store, since: float) -> None:
    out: dict = {}
    with store.engine.connect() as conn:
        _aggregates._add_rows(conn, out, since, None)
        _aggregates._add_feedback(conn, out, since, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows at the last checkpoint")
    parser.add_argument("--url", help="a store URL (default: a new SQLite file)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="saferollout-bench-"))
    url = args.url or f"sqlite:///{tmp / 'bench.db'}"
    store = Store(url)
    if store.count_interactions():
        raise SystemExit(f"{args.url}: interactions already stored; give an empty database")
    rng = random.Random(1)
    t0 = 1_700_000_000.25  # the rollout started mid-second
    checkpoints = [c for c in (10_000, 100_000, 300_000, 1_000_000, 3_000_000) if c <= args.rows]
    print(f"store: {store.engine.url.render_as_string(hide_password=True)}")
    print(f"{'rows':>9} {'rollup ms':>10} {'rows ms':>9} {'ratio':>7} {'insert us/rec':>14}")
    done = 0
    insert_s = 0.0
    for target in checkpoints:
        while done < target:
            batch = records(done, min(BATCH, target - done), t0, rng)
            started = time.perf_counter()
            store.insert_interactions(batch)
            insert_s += time.perf_counter() - started
            picked = batch[::10]
            store.write_scores(
                [
                    ScoreUpdate(r.request_id, {}, {}, {"refusal": rng.random() < 0.05})
                    for r in picked
                ]
            )
            done += len(batch)
        rollup = timed(lambda: store.aggregate_versions(since=t0))
        rows = timed(lambda: raw_window(store, t0), repeat=3)
        print(
            f"{done:>9} {rollup * 1000:>10.2f} {rows * 1000:>9.1f} {rows / rollup:>6.0f}x "
            f"{insert_s / done * 1e6:>14.1f}",
            flush=True,
        )
    store.close()


if __name__ == "__main__":
    main()
