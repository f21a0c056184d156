"""Replicas on one PostgreSQL: throughput, added latency, propagation, failover.

Run by hand: `.venv/bin/python bench/replicas.py [--requests 3000] [--concurrency 32]`.
Needs PostgreSQL at 127.0.0.1:5432 (user postgres, trust); uses a scratch database.

Side by side in one run, against one simulated model server process:

- direct: the client straight to the model server (the floor);
- 1 replica and 3 replicas of `saferollout serve` (round-robin from the client,
  as a load balancer would): requests/s, p50/p95 latency, the latency each
  adds over direct, and records stored vs responses served (must be equal);
- propagation: an admin rollback sent to a follower, until every replica
  routes 0% to the candidate (target <= 1 s);
- failover: kill -9 of the leader until another replica leads (target <= 10 s),
  polling all replicas all along: never two leaders at once, and fencing
  tokens in the events that never go back.

Everything stays on 127.0.0.1. The client shares the 2 cores with the
replicas, so absolute numbers understate a real deployment; compare ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import httpx
import sqlalchemy as sa

from saferollout.simulation import start_backend_process
from saferollout.store import Store

PG = "postgresql+psycopg://postgres@127.0.0.1:5432"
TOKEN = "bench-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SERVE = [sys.executable, "-m", "saferollout", "serve"]
SERVE_FLAGS = ["--force-without-preflight", "--no-scoring", "--no-report"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def load(urls: list[str], requests: int, concurrency: int) -> dict[str, float]:
    """Closed-loop load spread round-robin over `urls`; latencies in ms."""
    latencies: list[float] = []
    errors = 0
    counter = iter(range(requests))

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        for i in counter:
            url = urls[i % len(urls)]
            body = {"model": "m", "messages": [{"role": "user", "content": f"hello {i}"}]}
            start = time.perf_counter()
            async with session.post(url, json=body, headers={"X-Session-Id": f"u{i // 4}"}) as resp:
                await resp.read()
                if resp.status != 200:
                    errors += 1
            latencies.append((time.perf_counter() - start) * 1000)

    start = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies),
        "p95": latencies[int(len(latencies) * 0.95)],
        "errors": errors,
        "served": len(latencies),  # every answer, errors included, must have its record
    }


def start_replicas(n: int, config: Path, tmp: Path) -> list[tuple[str, subprocess.Popen[bytes]]]:
    env = {**os.environ, "BENCH_ADMIN_TOKEN": TOKEN}
    out = []
    for i in range(n):
        port = free_port()
        proc = subprocess.Popen(
            [*SERVE, "-c", str(config), "--port", str(port), *SERVE_FLAGS],
            stdout=(tmp / f"r{i}.log").open("wb"),
            stderr=subprocess.STDOUT,
            env=env,
        )
        out.append((f"http://127.0.0.1:{port}", proc))
    for url, proc in out:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp / "r0.log").read_text()
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "replica did not start"
            time.sleep(0.1)
    return out


def stop(replicas: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    for _, proc in replicas:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for _, proc in replicas:
        proc.wait(30)


def leaders(replicas: list[tuple[str, subprocess.Popen[bytes]]]) -> list[str]:
    found = []
    for url, proc in replicas:
        if proc.poll() is None:
            snap = httpx.get(url + "/admin/rollout", headers=AUTH, timeout=5).json()
            if snap["replica"]["leader"]:
                found.append(url)
    return found


def fresh_database() -> tuple[str, sa.Engine]:
    name = f"saferollout_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG + "/test", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return f"{PG}/{name}", admin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    db_url, admin = fresh_database()
    backend = start_backend_process("stable", latency_ms=0)
    try:
        with tempfile.TemporaryDirectory() as tmpdir:
            tmp = Path(tmpdir)
            config = tmp / "rollout.yaml"
            config.write_text(
                f"""
name: bench
versions:
  stable: {{url: "{backend.base_url}", model: a}}
  canary: {{url: "{backend.base_url}", model: b}}
stable: stable
candidate: canary
strategy: {{steps: [{{weight: 50, pause: {{}}}}], interval_s: 1}}
storage: {{url: "{db_url}"}}
server: {{admin_token_env: BENCH_ADMIN_TOKEN, flush_interval_s: 0.2}}
"""
            )
            chat = "/v1/chat/completions"
            direct = asyncio.run(
                load([backend.base_url + chat[3:]], args.requests, args.concurrency)
            )
            results = {"direct": direct}
            for n in (1, 3):
                replicas = start_replicas(n, config, tmp)
                store = Store(db_url)
                before = store.count_interactions()
                results[f"{n} replica(s)"] = asyncio.run(
                    load([u + chat for u, _ in replicas], args.requests, args.concurrency)
                )
                if n == 1:
                    stop(replicas)
                    results["1 replica(s)"]["stored"] = store.count_interactions() - before
                    store.close()
                    continue
                # Propagation: rollback on a follower until every replica routes 0% canary.
                while not leaders(replicas):
                    time.sleep(0.1)
                leader = leaders(replicas)[0]
                follower = next(u for u, _ in replicas if u != leader)
                start = time.monotonic()
                httpx.post(follower + "/admin/rollout/rollback", headers=AUTH, timeout=15)
                while any(
                    httpx.get(u + "/admin/rollout", headers=AUTH).json()["weights"].get("canary")
                    for u, _ in replicas
                ):
                    time.sleep(0.01)
                propagation = time.monotonic() - start
                # Failover: kill -9 the leader; poll everyone until another leads.
                time.sleep(1.0)  # let the last flush interval pass (SIGKILL loses at most that)
                proc = next(p for u, p in replicas if u == leader)
                proc.kill()
                start = time.monotonic()
                most_leaders = 0
                while True:
                    current = leaders(replicas)
                    most_leaders = max(most_leaders, len(current))
                    if current:
                        break
                    time.sleep(0.05)
                failover = time.monotonic() - start
                stop(replicas)
                results["3 replica(s)"]["stored"] = store.count_interactions() - before
                events = store.list_events("bench")
                fences = [e["data"].get("fence") for e in events if e["data"].get("fence")]
                store.close()
    finally:
        backend.stop()
        with admin.connect() as conn:
            conn.execute(
                sa.text(f'DROP DATABASE IF EXISTS "{db_url.rsplit("/", 1)[1]}" WITH (FORCE)')
            )
        admin.dispose()

    floor = results["direct"]
    header = f"{'':14} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'+p50 ms':>8}"
    print(f"{header} {'stored/served':>14} {'errors':>6}")
    for name, r in results.items():
        added = r["p50"] - floor["p50"]
        stored = f"{r.get('stored', '-')}/{r['served']}" if "stored" in r else "-"
        print(
            f"{name:14} {r['rps']:8.0f} {r['p50']:8.2f} {r['p95']:8.2f} {added:8.2f} {stored:>14}"
            f" {r['errors']:6d}"
        )
    ratio = results["3 replica(s)"]["rps"] / results["1 replica(s)"]["rps"]
    print(f"throughput 3 replicas / 1 replica: {ratio:.2f}x (2 cores shared with the client)")
    print(
        f"rollback on a follower -> 0% canary on every replica: {propagation * 1000:.0f} ms "
        f"(target <= 1000) {'PASS' if propagation <= 1 else 'FAIL'}"
    )
    print(
        f"kill -9 leader -> new leader: {failover:.2f} s (target <= 10) "
        f"{'PASS' if failover <= 10 else 'FAIL'}; most leaders seen at once: {most_leaders}"
    )
    print(f"fencing tokens in events never go back: {fences == sorted(fences)} {fences}")


if __name__ == "__main__":
    main()
