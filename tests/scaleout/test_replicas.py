"""Three `saferollout serve` processes on one PostgreSQL, as replicas behind a load balancer.

Real processes on loopback, a real PostgreSQL: sticky assignment agrees across
replicas, exactly one leads, an admin call on a follower works and its
rollback reaches every replica within a second, kill -9 of the leader hands the
lease to another within 10 s (fencing tokens in the events never go back), and
the records of all replicas land once each.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import pytest
import sqlalchemy as sa

from saferollout.simulation import Profile, start_backend
from saferollout.store import Store, schema

from ..servers import free_port, wait_ready

pytestmark = pytest.mark.postgres

TOKEN = "replica-t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SERVE = [sys.executable, "-m", "saferollout", "serve"]
SERVE_FLAGS = ["--force-without-preflight", "--no-scoring", "--no-report"]


@dataclass
class Replica:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path
    out: IO[bytes]

    def snapshot(self) -> dict:
        return httpx.get(self.url + "/admin/rollout", headers=AUTH, timeout=5).json()


def _empty(url: str) -> None:
    store = Store(url)
    names = ", ".join(t.name for t in schema.metadata.sorted_tables if t.name != "saferollout_meta")
    with store.engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY"))
    store.close()


@pytest.fixture
def cluster(pg_database_url: str, tmp_path: Path) -> Iterator[tuple[list[Replica], str]]:
    _empty(pg_database_url)
    calm = Profile(name="calm", error_rate=0.0)
    with start_backend(calm, latency_ms=1) as stable, start_backend(calm, latency_ms=1) as canary:
        config = tmp_path / "rollout.yaml"
        config.write_text(
            f"""
name: scaled
versions:
  stable: {{url: "{stable.base_url}", model: a}}
  canary: {{url: "{canary.base_url}", model: b}}
stable: stable
candidate: canary
strategy: {{steps: [{{weight: 50, pause: {{}}}}], interval_s: 0.5}}
storage: {{url: "{pg_database_url}"}}
server: {{admin_token_env: TEST_ADMIN_TOKEN, flush_interval_s: 0.1}}
"""
        )
        env = {**os.environ, "TEST_ADMIN_TOKEN": TOKEN}
        replicas = []
        try:
            for i in range(3):
                port = free_port()
                log = tmp_path / f"replica{i}.log"
                out = log.open("wb")
                proc = subprocess.Popen(
                    [*SERVE, "-c", str(config), "--port", str(port), *SERVE_FLAGS],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
                replicas.append(Replica(f"http://127.0.0.1:{port}", proc, log, out))
            for r in replicas:
                wait_ready(r.url, r.proc, r.log)
            yield replicas, pg_database_url
        finally:
            for r in replicas:
                if r.proc.poll() is None:
                    r.proc.send_signal(signal.SIGTERM)
            for r in replicas:
                try:
                    r.proc.wait(30)
                except subprocess.TimeoutExpired:
                    r.proc.kill()
                r.out.close()


def _chat(replica: Replica, session: str) -> httpx.Response:
    return httpx.post(
        replica.url + "/v1/chat/completions",
        json={"model": "x", "messages": [{"role": "user", "content": f"hello {session}"}]},
        headers={"X-Session-Id": session},
        timeout=10,
    )


def _leaders(replicas: list[Replica]) -> list[Replica]:
    return [r for r in replicas if r.proc.poll() is None and r.snapshot()["replica"]["leader"]]


def _wait(check, timeout: float) -> float:
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, "condition not met in time"
        time.sleep(0.05)
    return time.monotonic() - start


def test_replicas_agree_forward_and_fail_over(cluster) -> None:
    replicas, url = cluster
    _wait(lambda: len(_leaders(replicas)) == 1, timeout=10)
    served = 0
    # Sticky assignment agrees across replicas without any coordination.
    for i in range(40):
        versions = {_chat(r, f"user-{i}").headers["X-Rollout-Version"] for r in replicas}
        served += len(replicas)
        assert len(versions) == 1, f"user-{i} got {versions}"
    # An admin call on a follower is run by the leader; every replica follows within 1 s.
    [leader] = _leaders(replicas)
    follower = next(r for r in replicas if r is not leader)
    r = httpx.post(follower.url + "/admin/rollout/rollback", headers=AUTH, timeout=15)
    assert r.status_code == 200, r.text
    took = _wait(
        lambda: all(rep.snapshot()["weights"].get("canary", 0.0) == 0.0 for rep in replicas), 1.0
    )
    assert took <= 1.0
    for i in range(20):
        for rep in replicas:
            assert _chat(rep, f"user-{i}").headers["X-Rollout-Version"] == "stable"
            served += 1
    # kill -9 the leader: another takes over within 10 s. (Let a few flush
    # intervals pass first: SIGKILL may cost the records of the last one.)
    time.sleep(0.5)
    leader.proc.kill()
    leader.proc.wait(10)
    survivors = [r for r in replicas if r is not leader]
    took = _wait(lambda: len(_leaders(survivors)) == 1, timeout=10)
    assert took < 10
    new_leader = _leaders(survivors)[0]
    r = httpx.post(new_leader.url + "/admin/rollout/abort", headers=AUTH, timeout=15)
    assert r.status_code == 409  # rolled back already: the new leader has the same state
    # Records: every request served by a live replica stored once (stop them to flush).
    for rep in survivors:
        rep.proc.send_signal(signal.SIGTERM)
        rep.proc.wait(30)
    store = Store(url)
    try:
        stored = store.count_interactions()
        events = store.list_events("scaled")
    finally:
        store.close()
    assert stored == served
    fences = [e["data"]["fence"] for e in events if e["data"].get("fence") is not None]
    assert fences == sorted(fences)
    assert [e["kind"] for e in events].count("rolled_back") == 1
