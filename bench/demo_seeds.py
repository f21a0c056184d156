"""Run demo scenarios over many seeds: how often each reaches its decision.

    python bench/demo_seeds.py --seeds 20 --scenario regression --scenario aa --speed 20

Prints, per scenario, the tally of decisions, whether the target holds
(regression: rolled back for every seed; aa and healthy: promoted in >= 95%),
the median candidate requests at the decision and the median duration.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections import Counter
from pathlib import Path

from rich.console import Console

from saferollout.cli._demo import DemoOptions, run_demo
from saferollout.simulation import SCENARIOS

TARGET = {"regression": 1.0, "aa": 0.95, "healthy": 0.95}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    parser.add_argument("--speed", type=float, default=20.0)
    parser.add_argument("--latency-ms", type=float, default=2.0)
    args = parser.parse_args()
    quiet = Console(stderr=True, quiet=True)
    for name in args.scenario or ["regression", "aa", "healthy"]:
        expected = SCENARIOS[name].expected
        tally: Counter[str] = Counter()
        at_decision, durations, lost = [], [], 0
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            with tempfile.TemporaryDirectory() as tmp:
                options = DemoOptions(
                    scenario=name,
                    seed=seed,
                    out=Path(tmp),
                    speed=args.speed,
                    latency_ms=args.latency_ms,
                )
                header = run_demo(options, quiet)
            tally[header["decision"]] += 1
            at_decision.append(header["canary_requests_at_decision"])
            durations.append(header["duration_s"])
            lost += header["lost_records"]
            print(f"  {name} seed {seed}: {header['decision']}", flush=True)
        share = tally[expected] / args.seeds
        ok = share >= TARGET.get(name, 1.0)
        print(
            f"{name}: {dict(tally)}; {expected} in {tally[expected]}/{args.seeds} "
            f"({'meets' if ok else 'MISSES'} target); median canary requests at decision "
            f"{statistics.median(at_decision):.0f}; median duration "
            f"{statistics.median(durations):.0f} s; lost records {lost}",
            flush=True,
        )


if __name__ == "__main__":
    main()
