"""Soak: steady mixed traffic through the real runtime for minutes, a rollback halfway.

Run by hand (bounded in time, loopback only):

    .venv/bin/python bench/soak.py                      # 2 minutes, 100 req/s, SQLite
    .venv/bin/python bench/soak.py --minutes 1 --rate 150
    .venv/bin/python bench/soak.py --storage postgresql://postgres@127.0.0.1:5432/soak
    .venv/bin/python bench/soak.py --rollback regressed # the controller rolls back by itself

Starts two simulated model servers (child processes), `saferollout serve`
(gateway, controller, scoring worker) as a child on a free loopback port, and
open-loop traffic (request i at t0 + i/rate; 30% streaming by default; sessions
with several turns). Halfway through, an operator rolls back (`--rollback
admin`, default) or the candidate turns harmful (`--rollback regressed`, the
controller must act on its own). Reports, as one JSON object on stdout plus a
summary on stderr:

- throughput, latency percentiles per version (and time to first byte of streams);
- the serve process' RSS (and its children's: scoring workers, record writer)
  sampled over time, and the slope after warm-up: steady traffic must not grow
  memory;
- records written vs requests served: equal (read after a clean shutdown);
- broken streams: 200 streams that did not end with [DONE]: 0;
- candidate answers to requests sent after the rollback took effect: 0.

Exit status 1 when records != served, a stream broke, or the rollback did not
happen (so it can gate a nightly job); 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from saferollout.simulation import (
    RequestOutcome,
    TrafficConfig,
    generate_traffic,
    start_backend_process,
)
from saferollout.store import Store

ADMIN_TOKEN = "soak-admin-token"  # loopback only; passed through the environment


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kb(pid: int) -> int:
    """Resident set size of one process from /proc (Linux), 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


@dataclass
class Soak:
    args: argparse.Namespace
    url: str
    serve_pid: int
    outcomes: list[tuple[float, RequestOutcome]] = field(default_factory=list)  # (end, outcome)
    memory: list[dict[str, float]] = field(default_factory=list)
    rollback_at: float | None = None  # seconds since start, when 0% took effect
    rollback_actor: str | None = None
    t0: float = 0.0

    async def run(self) -> float:
        args = self.args
        total = int(args.rate * args.minutes * 60)
        config = TrafficConfig(
            base_url=self.url,
            requests=total,
            rate=args.rate,
            stream_share=args.stream_share,
            harmful_share=0.2,
            users=5000,
            seed=args.seed,
            keep_text=False,
            timeout_s=30,
        )
        self.t0 = time.monotonic()
        async with aiohttp.ClientSession() as admin:
            sampler = asyncio.create_task(self._sample_memory())
            steer = asyncio.create_task(self._rollback_halfway(admin))
            await generate_traffic(
                config, on_outcome=lambda o: self.outcomes.append((self._now(), o))
            )
            duration = self._now()
            steer.cancel()
            sampler.cancel()
            await asyncio.gather(steer, sampler, return_exceptions=True)
        return duration

    def _now(self) -> float:
        return time.monotonic() - self.t0

    async def _sample_memory(self) -> None:
        while True:
            workers = children(self.serve_pid)
            self.memory.append(
                {
                    "t_s": round(self._now(), 2),
                    "serve_mb": rss_kb(self.serve_pid) / 1024,
                    "workers_mb": sum(rss_kb(p) for p in workers) / 1024,
                }
            )
            await asyncio.sleep(self.args.sample_s)

    async def _rollback_halfway(self, admin: aiohttp.ClientSession) -> None:
        await asyncio.sleep(self.args.minutes * 30)
        auth = {"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Actor": "soak"}
        if self.args.rollback == "admin":
            async with admin.post(
                self.url + "/admin/rollout/rollback", json={"reason": "soak"}, headers=auth
            ) as r:
                r.raise_for_status()
            self.rollback_at, self.rollback_actor = self._now(), "admin:soak"
            return
        self.args.candidate_backend.set_profile("regressed")
        while True:  # wait for the controller's own rollback
            async with admin.get(self.url + "/admin/rollout", headers=auth) as r:
                state = (await r.json())["rollout"]
            if state["phase"] == "rolled_back":
                self.rollback_at, self.rollback_actor = self._now(), "controller"
                return
            await asyncio.sleep(0.2)


def write_config(path: Path, stable_url: str, candidate_url: str, storage: str, port: int) -> None:
    path.write_text(
        f"""
name: soak
versions:
  stable: {{url: "{stable_url}", model: v1}}
  candidate: {{url: "{candidate_url}", model: v2}}
stable: stable
candidate: candidate
strategy: {{type: canary, interval_s: 1, steps: [{{weight: 30, pause: {{}}}}]}}
storage: {{url: "{storage}"}}
server: {{host: 127.0.0.1, port: {port}, flush_interval_s: 0.5, admin_token_env: SOAK_TOKEN}}
"""
    )


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"serve exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("serve did not become ready")


def summarize(soak: Soak, duration: float, records: int) -> dict[str, Any]:
    outcomes = [o for _, o in soak.outcomes]
    served = [o for o in outcomes if o.status != 0]
    per_version: dict[str, Any] = {}
    for version in sorted({o.version or "?" for o in served}):
        mine = [o for o in served if (o.version or "?") == version]
        lat = [o.latency_s * 1000 for o in mine]
        ttft = [o.ttft_s * 1000 for o in mine if o.stream and o.ttft_s is not None]
        per_version[version] = {
            "requests": len(mine),
            "errors": sum(o.error is not None for o in mine),
            "latency_ms": {f"p{q}": round(percentile(lat, q), 2) for q in (50, 95, 99)},
            "ttft_ms": {f"p{q}": round(percentile(ttft, q), 2) for q in (50, 95)},
        }
    broken = [o for o in served if o.stream and o.status == 200 and not o.completed]
    late_candidate = 0
    if soak.rollback_at is not None:
        # Requests sent after the rollback took effect (0.5 s of slack for the
        # controller and in-flight requests) must all be answered by stable.
        late_candidate = sum(
            1 for o in served if o.started_s > soak.rollback_at + 0.5 and o.version == "candidate"
        )
    mem = soak.memory
    steady = mem[max(1, len(mem) // 5) :]  # after warm-up (first 20%)
    slope = growth = float("nan")
    if len(steady) >= 3:
        t = np.array([m["t_s"] for m in steady]) / 60
        rss = np.array([m["serve_mb"] for m in steady])
        slope = float(np.polyfit(t, rss, 1)[0])
        growth = float(rss[-1] - rss[0])
    return {
        "minutes": soak.args.minutes,
        "target_rate": soak.args.rate,
        "duration_s": round(duration, 2),
        "sent": len(outcomes),
        "served": len(served),
        "client_failures": len(outcomes) - len(served),
        "throughput_rps": round(len(served) / duration, 1) if duration else 0.0,
        "streams": sum(o.stream for o in served),
        "broken_streams": len(broken),
        "records_written": records,
        "records_equal_served": records == len(served),
        "rollback": {
            "by": soak.rollback_actor,
            "at_s": None if soak.rollback_at is None else round(soak.rollback_at, 2),
            "candidate_answers_after": late_candidate,
        },
        "per_version": per_version,
        "memory": {
            "serve_mb_start": round(mem[0]["serve_mb"], 1) if mem else None,
            "serve_mb_end": round(mem[-1]["serve_mb"], 1) if mem else None,
            "serve_mb_max": round(max(m["serve_mb"] for m in mem), 1) if mem else None,
            "workers_mb_end": round(mem[-1]["workers_mb"], 1) if mem else None,
            "steady_slope_mb_per_min": round(slope, 3),
            "steady_growth_mb": round(growth, 2),
            "samples": [
                {k: round(v, 1) for k, v in m.items()} for m in mem[:: max(1, len(mem) // 20)]
            ],
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--stream-share", type=float, default=0.3)
    parser.add_argument("--rollback", choices=("admin", "regressed"), default="admin")
    parser.add_argument("--storage", default=None, help="default: a new SQLite file")
    parser.add_argument("--no-scoring", action="store_true")
    parser.add_argument("--sample-s", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if not (0 < args.minutes <= 60 and 0 < args.rate <= 5000 and 0 <= args.stream_share <= 1):
        parser.error("need 0 < --minutes <= 60, 0 < --rate <= 5000, 0 <= --stream-share <= 1")
    if args.storage is not None and not args.storage.startswith(("postgresql", "sqlite")):
        parser.error("--storage: a postgresql:// or sqlite:/// URL")

    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        storage = args.storage or f"sqlite:///{Path(tmp) / 'soak.db'}"
        store = Store(storage)
        before = store.count_interactions()
        store.close()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with (
            start_backend_process("stable", latency_ms=20, tokens_per_s=400, seed=1) as stable,
            start_backend_process("identical", latency_ms=20, tokens_per_s=400, seed=2) as cand,
        ):
            args.candidate_backend = cand
            cfg = Path(tmp) / "rollout.yaml"
            write_config(cfg, stable.base_url, cand.base_url, storage, port)
            cmd = [sys.executable, "-m", "saferollout", "serve", "-c", str(cfg)]
            cmd += ["--force-without-preflight", "--report-dir", str(Path(tmp) / "reports")]
            cmd += ["--no-scoring"] if args.no_scoring else []
            log = Path(tmp) / "serve.log"
            with log.open("ab") as out:
                proc = subprocess.Popen(
                    cmd,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, "SOAK_TOKEN": ADMIN_TOKEN},
                )
            try:
                wait_ready(url, proc)
                soak = Soak(args, url, proc.pid)
                duration = asyncio.run(soak.run())
            finally:
                proc.send_signal(signal.SIGTERM)  # a clean stop flushes every record
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
        store = Store(storage)
        records = store.count_interactions() - before
        store.close()
    report = summarize(soak, duration, records)
    print(json.dumps(report, indent=2))
    ok = (
        report["records_equal_served"]
        and report["broken_streams"] == 0
        and report["rollback"]["by"] is not None
        and report["rollback"]["candidate_answers_after"] == 0
    )
    mem = report["memory"]
    print(
        f"soak {args.minutes} min at {args.rate}/s: served {report['served']} "
        f"({report['throughput_rps']}/s), records {records}, broken streams "
        f"{report['broken_streams']}, rollback by {report['rollback']['by']} at "
        f"{report['rollback']['at_s']}s, serve RSS {mem['serve_mb_start']} -> "
        f"{mem['serve_mb_end']} MB (steady slope {mem['steady_slope_mb_per_min']} MB/min): "
        f"{'OK' if ok else 'FAILED'}",
        file=sys.stderr,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
