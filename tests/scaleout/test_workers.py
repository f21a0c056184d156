"""`serve --workers N`: N gateway processes on one port, coordinated through PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from saferollout.simulation import Profile, start_backend
from saferollout.store import Store

from ..servers import free_port, wait_ready
from .test_replicas import AUTH, SERVE, TOKEN, _empty


def _config(path: Path, storage: str, stable: str, canary: str) -> Path:
    path.write_text(
        f"""
name: workers
versions:
  stable: {{url: "{stable}", model: a}}
  canary: {{url: "{canary}", model: b}}
stable: stable
candidate: canary
strategy: {{steps: [{{weight: 50, pause: {{}}}}], interval_s: 0.5}}
storage: {{url: "{storage}"}}
server: {{admin_token_env: TEST_ADMIN_TOKEN, flush_interval_s: 0.1}}
"""
    )
    return path


def test_workers_need_postgresql(tmp_path: Path) -> None:
    cfg = _config(
        tmp_path / "r.yaml",
        f"sqlite:///{tmp_path / 'x.db'}",
        "http://127.0.0.1:1/v1",
        "http://127.0.0.1:2/v1",
    )
    env = {**os.environ, "TEST_ADMIN_TOKEN": TOKEN}
    args = ["-c", str(cfg), "--port", str(free_port()), "--workers", "2"]
    done = subprocess.run(
        [*SERVE, *args, "--force-without-preflight"], capture_output=True, env=env, timeout=60
    )
    assert done.returncode == 2
    assert b"SQLite storage takes one gateway process" in done.stderr


@pytest.mark.postgres
def test_two_workers_share_a_port_and_elect_one_leader(
    pg_database_url: str, tmp_path: Path
) -> None:
    _empty(pg_database_url)
    calm = Profile(name="calm", error_rate=0.0)
    with start_backend(calm, latency_ms=1) as stable, start_backend(calm, latency_ms=1) as canary:
        cfg = _config(tmp_path / "r.yaml", pg_database_url, stable.base_url, canary.base_url)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = tmp_path / "serve.log"
        env = {**os.environ, "TEST_ADMIN_TOKEN": TOKEN}
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [
                    *SERVE,
                    "-c",
                    str(cfg),
                    "--port",
                    str(port),
                    "--workers",
                    "2",
                    "--no-scoring",
                    "--force-without-preflight",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
            try:
                wait_ready(url, proc, log)
                replicas: dict[str, bool] = {}
                prefixes = set()
                served = 0
                for i in range(200):
                    # A new connection each time: the kernel spreads them over the workers.
                    with httpx.Client() as client:
                        if i % 2:
                            r = client.get(url + "/admin/rollout", headers=AUTH)
                            replica = r.json()["replica"]
                            replicas[replica["id"]] = replica["leader"]
                        else:
                            r = client.post(
                                url + "/v1/chat/completions",
                                json={
                                    "model": "m",
                                    "messages": [{"role": "user", "content": "hi"}],
                                },
                            )
                            assert r.status_code == 200
                            served += 1
                            prefixes.add(
                                r.headers["X-Request-Id"][:20]
                            )  # req_ + per-process prefix
                    if len(replicas) == 2 and sum(replicas.values()) == 1 and len(prefixes) == 2:
                        break
                assert len(replicas) == 2, log.read_text()
                assert sum(replicas.values()) == 1  # exactly one leads
                assert len(prefixes) == 2  # both served chat requests
            finally:
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(60) == 0, log.read_text()
        store = Store(pg_database_url)
        try:
            assert store.count_interactions() == served
            forced = [e for e in store.list_events("workers") if e["kind"] == "preflight_forced"]
            assert len(forced) == 1  # the gate ran once, in the parent
        finally:
            store.close()
