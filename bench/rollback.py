"""How fast a rollback takes effect: trigger -> 0% candidate traffic.

Run by hand: `.venv/bin/python bench/rollback.py [--runs 5] [--rate 200]`.

Each run starts a stable and a regressed simulated model on loopback, the real
runtime (gateway, scoring worker process, controller with the real judge) on
SQLite, and open-loop traffic at --rate requests/s. When the controller rolls
back, three intervals are measured:

- decide -> routed: from the controller deciding to roll back until the
  gateway's routing table says 0% (in-process, one attribute swap);
- routed -> last candidate request: the newest request the gateway sent to
  the candidate, relative to the routing change (<= 0 means none after it);
- onset -> decide: from the first request until the rollback decision, which
  is what the scoring lag, the tick interval and the statistics cost together.

Everything stays on 127.0.0.1 and each run is bounded by --timeout seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from saferollout.cli._runtime import Runtime
from saferollout.config import parse_config
from saferollout.gateway import new_event_loop
from saferollout.rollout import Phase
from saferollout.simulation import TrafficConfig, generate_traffic, start_backend
from saferollout.store import Store


def one_run(seed: int, rate: float, timeout: float, interval: float) -> dict[str, float] | None:
    with (
        start_backend("stable", latency_ms=20, seed=seed) as stable,
        start_backend("regressed", latency_ms=20, seed=seed + 1) as candidate,
        tempfile.TemporaryDirectory() as tmp,
    ):
        db = Path(tmp) / "rollback.db"
        cfg = parse_config(
            f"""
name: bench
versions:
  stable: {{url: "{stable.base_url}", model: v1}}
  candidate: {{url: "{candidate.base_url}", model: v2}}
stable: stable
candidate: candidate
strategy: {{type: canary, interval_s: {interval}, steps: [{{weight: 50, pause: {{}}}}]}}
storage: {{url: "sqlite:///{db}"}}
server: {{flush_interval_s: 0.1}}
""",
            env={},
        )
        store = Store(cfg.storage.url)
        runtime = Runtime.build(cfg, store)
        routed_at: list[float] = []
        apply = runtime.gateway.apply_routing

        def timed_apply(stable_v, weights, step=None, shadow=None):  # type: ignore[no-untyped-def]
            apply(stable_v, weights, step, shadow)
            if weights.get("candidate", 0.0) == 0.0:
                routed_at.append(time.time())

        runtime.controller.apply_routing = timed_apply
        with runtime:
            gw = runtime.start_in_thread()
            started = time.time()

            async def traffic() -> None:
                task = asyncio.ensure_future(
                    generate_traffic(
                        TrafficConfig(
                            base_url=gw.url,
                            requests=int(rate * timeout),
                            rate=rate,
                            harmful_share=0.3,
                            seed=seed,
                            keep_text=False,
                        )
                    )
                )
                while not task.done():
                    if runtime.controller.state.phase is Phase.ROLLED_BACK:
                        await asyncio.sleep(1.0)  # keep sending a moment after
                        task.cancel()
                        break
                    await asyncio.sleep(0.05)
                await asyncio.gather(task, return_exceptions=True)

            loop = new_event_loop()
            try:
                loop.run_until_complete(traffic())
            finally:
                loop.close()
        state = runtime.controller.state
        if state.phase is not Phase.ROLLED_BACK or not routed_at:
            store.close()
            return None
        events = [e for e in store.list_events("bench") if e["kind"] == "rolled_back"]
        decided = events[0]["created_at"]
        candidate_rows = store.list_interactions(version="candidate", limit=1)
        last_candidate = candidate_rows[0]["created_at"] if candidate_rows else started
        aggregates = store.aggregate_versions(since=0)
        store.close()
        routed = routed_at[0]
        return {
            # finished_at is stamped when the controller decides; routing follows.
            "decide_to_routed_ms": max(0.0, (routed - state.finished_at) * 1000)
            if state.finished_at
            else 0.0,
            "routed_to_last_candidate_ms": (last_candidate - routed) * 1000,
            "onset_to_decide_s": decided - started,
            "candidate_requests": float(aggregates["candidate"].requests),
        }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--interval", type=float, default=1.0, help="controller tick (s)")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    rows = []
    for seed in range(args.runs):
        row = one_run(seed, args.rate, args.timeout, args.interval)
        if row is None:
            print(f"run {seed}: no rollback within {args.timeout:g}s")
            continue
        rows.append(row)
        print(
            f"run {seed}: decide->routed {row['decide_to_routed_ms']:.2f} ms, "
            f"routed->last candidate request {row['routed_to_last_candidate_ms']:+.1f} ms, "
            f"onset->decide {row['onset_to_decide_s']:.1f} s "
            f"({row['candidate_requests']:.0f} candidate requests)"
        )
    if not rows:
        return 1
    print(f"\n{len(rows)} runs, rate {args.rate:g}/s, tick {args.interval:g}s (medians):")
    for key in rows[0]:
        print(f"  {key}: {statistics.median(r[key] for r in rows):.2f}")
    worst = max(r["routed_to_last_candidate_ms"] for r in rows)
    verdict = "PASS" if worst <= 1000 else "MISS"
    print(f"target trigger -> 0% candidate traffic <= 1 s: {verdict} (worst {worst:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
