"""The database goes away while traffic flows: records wait, none is lost, none doubled.

A real rollout (gateway + controller, `Runtime`) takes open-loop traffic while
another connection holds the SQLite file locked, or while every PostgreSQL
connection of the test database is terminated again and again
(pg_terminate_backend: the shared server itself is never restarted).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from saferollout.cli._runtime import Runtime
from saferollout.config import RolloutConfig, parse_config
from saferollout.simulation import (
    BackendHandle,
    RequestOutcome,
    TrafficConfig,
    TrafficResult,
    run_traffic,
)
from saferollout.store import Store

from .conftest import wait_until

RATE = 150  # requests per second, open loop


def config(stable: BackendHandle, candidate: BackendHandle, url: str, name: str) -> RolloutConfig:
    return parse_config(
        f"""
name: {name}
versions:
  stable: {{url: "{stable.base_url}", model: v1}}
  candidate: {{url: "{candidate.base_url}", model: v2}}
stable: stable
candidate: candidate
strategy: {{type: canary, interval_s: 0.2, steps: [{{weight: 30, pause: {{}}}}]}}
storage: {{url: "{url}"}}
server: {{flush_interval_s: 0.1}}
""",
        env={},
    )


class Traffic(threading.Thread):
    """Open-loop traffic on a thread of its own; each outcome timestamped when it ends."""

    def __init__(self, url: str, seconds: float) -> None:
        super().__init__(daemon=True)
        self.config = TrafficConfig(
            base_url=url, requests=int(RATE * seconds), rate=RATE, stream_share=0.3, seed=7
        )
        self.ended: list[tuple[float, RequestOutcome]] = []
        self.result: TrafficResult | None = None

    def run(self) -> None:
        self.result = run_traffic(
            self.config, on_outcome=lambda o: self.ended.append((time.monotonic(), o))
        )


def assert_all_recorded_once(store: Store, result: TrafficResult, before: int) -> None:
    assert all(o.status == 200 for o in result.outcomes), {o.status for o in result.outcomes}
    ids = {o.request_id for o in result.outcomes}
    assert len(ids) == len(result.outcomes)
    assert wait_until(lambda: store.count_interactions() - before >= len(ids), 30)
    time.sleep(0.3)
    assert store.count_interactions() - before == len(ids)  # none lost, none doubled
    missing = [i for i in ids if store.get_interaction(str(i)) is None]
    assert missing == []


def test_sqlite_locked_by_another_connection_delays_records_and_loses_none(
    calm_stable: BackendHandle, tmp_path: Path
) -> None:
    from saferollout.simulation import start_backend

    from .conftest import CALM

    db = tmp_path / "locked.db"
    with start_backend(CALM, latency_ms=1, seed=2) as candidate:
        store = Store(f"sqlite:///{db}")
        runtime = Runtime.build(config(calm_stable, candidate, f"sqlite:///{db}", "lock"), store)
        with runtime:
            gw = runtime.start_in_thread(scoring=False)
            traffic = Traffic(gw.url, seconds=5)
            traffic.start()
            time.sleep(1.0)
            locker = sqlite3.connect(db, isolation_level=None, timeout=10)
            locker.execute("BEGIN EXCLUSIVE")
            locked_at = time.monotonic()
            count_locked = store.count_interactions()  # WAL: reads go on
            time.sleep(3.0)
            count_still = store.count_interactions()
            locker.execute("ROLLBACK")
            unlocked_at = time.monotonic()
            locker.close()
            traffic.join(30)
            assert traffic.result is not None
            # The lock held: nothing was written while it was.
            assert count_still == count_locked
            # The gateway kept answering quickly meanwhile: no disk on the hot path.
            during = [o for t, o in traffic.ended if locked_at + 0.2 < t < unlocked_at]
            assert len(during) > RATE * 2
            assert max(o.latency_s for o in during) < 1.0
            assert_all_recorded_once(store, traffic.result, 0)
        store.close()


@pytest.mark.postgres
def test_postgresql_connections_terminated_mid_run_lose_nothing(
    calm_stable: BackendHandle, pg_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from saferollout.simulation import start_backend

    from .conftest import CALM

    store = Store(pg_database_url)
    before = store.count_interactions()
    killer = sa.create_engine(
        pg_database_url.replace("postgresql://", "postgresql+psycopg://"),
        isolation_level="AUTOCOMMIT",
        poolclass=sa.pool.NullPool,
    )
    terminate = sa.text(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    terminated = 0
    with start_backend(CALM, latency_ms=1, seed=2) as candidate:
        runtime = Runtime.build(config(calm_stable, candidate, pg_database_url, "pgterm"), store)
        with runtime:
            gw = runtime.start_in_thread(scoring=False)
            traffic = Traffic(gw.url, seconds=6)
            traffic.start()
            time.sleep(0.8)

            def retried() -> bool:
                # The record-writer process reports a batch's failed attempts with its ack.
                return any("failed attempts" in r.getMessage() for r in caplog.records)

            # Kill every connection of this database, again and again, until a kill
            # lands mid-write (an idle pooled connection is only re-pinged), at most 4 s.
            for _ in range(100):
                with killer.connect() as conn:
                    terminated += int(conn.execute(terminate).scalar_one())
                if retried() and terminated >= 20:
                    break
                time.sleep(0.04)
            traffic.join(30)
            assert traffic.result is not None
            assert terminated >= 20  # the writer's (and the controller's) connections died
            assert_all_recorded_once(store, traffic.result, before)
            # Those batches failed and were written again, once.
            assert retried(), "no write failed: the test did not exercise the retry"
            # The controller came back too: it leads and its state reads again.
            assert wait_until(lambda: runtime.replica.is_leader, 10)
            assert store.load_state("pgterm") is not None
    killer.dispose()
    store.close()
