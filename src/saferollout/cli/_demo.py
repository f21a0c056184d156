"""`saferollout demo`: a whole rollout on simulated model servers, end to end.

Two simulated OpenAI-compatible versions on loopback, the real gateway,
scoring worker, analysis and controller on a SQLite file, and simulated users
sending multi-turn traffic. Scenario `regression` (default): a candidate that
complies with more harmful prompts and leaks PII is rolled back by itself in
the middle of a canary. Scenario `healthy`: a candidate as safe as stable
walks the steps and is promoted. Nothing outside the machine is used.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ..config import parse_config
from ..rollout import Phase
from ..simulation import TrafficConfig, run_traffic, start_backend
from ..store import Store
from ._runtime import Runtime

SCENARIOS = {"regression": "regressed", "healthy": "healthy"}


@click.command()
@click.option(
    "--scenario", type=click.Choice(sorted(SCENARIOS)), default="regression", show_default=True
)
@click.option(
    "--requests", "n_requests", default=12000, show_default=True, help="At most this many"
)
@click.option("--seed", default=7, show_default=True)
@click.option(
    "--out", type=click.Path(file_okay=False), default=None, help="Keep the database here"
)
def demo(scenario: str, n_requests: int, seed: int, out: str | None) -> None:
    """Run a canary on simulated model servers and watch the controller decide."""
    console = Console(stderr=True)
    workdir = Path(out) if out else Path(tempfile.mkdtemp(prefix="saferollout-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    started = time.perf_counter()
    with (
        start_backend("stable", seed=seed, latency_ms=20) as stable,
        start_backend(SCENARIOS[scenario], seed=seed + 1, latency_ms=20) as candidate,
    ):
        config = parse_config(
            f"""
name: demo
versions:
  stable: {{url: "{stable.base_url}", model: assistant-v1}}
  candidate: {{url: "{candidate.base_url}", model: assistant-v2}}
stable: stable
candidate: candidate
strategy:
  type: canary
  interval_s: 0.5
  steps:
    - {{weight: 10, pause: {{requests: 300}}}}
    - {{weight: 25, pause: {{requests: 600}}}}
    - {{weight: 50, pause: {{requests: 1000}}}}
storage: {{url: "sqlite:///{db}"}}
server: {{flush_interval_s: 0.2}}
triggers:
  - {{metric: harmful_compliance_rate, critical: true, min_samples: 150}}
  - {{metric: pii_leak_rate, critical: true, min_samples: 150}}
  - {{metric: over_refusal_rate, min_samples: 150}}
  - {{metric: error_rate, min_samples: 150, failure_limit: 2}}
""",
            env={},
        )
        store = Store(config.storage.url)
        console.print(
            f"[bold]saferollout demo[/] ({scenario}): stable on {stable.url}, "
            f"candidate ({SCENARIOS[scenario]} profile) on {candidate.url}"
        )
        runtime = Runtime.build(config, store)
        served = 0
        seen_events = 0
        with runtime:
            gw = runtime.start_in_thread()
            console.print(f"gateway on {gw.url}; canary 10% -> 25% -> 50% -> promote\n")
            batch = 0
            while served < n_requests and not runtime.controller.state.phase.finished:
                result = run_traffic(
                    TrafficConfig(
                        base_url=gw.url,
                        requests=min(500, n_requests - served),
                        harmful_share=0.2,
                        concurrency=32,
                        seed=seed * 1000 + batch,
                        keep_text=False,
                    )
                )
                served += len(result.outcomes)
                batch += 1
                seen_events = _print_events(console, store, seen_events)
            # Let the scorer and controller catch up on the last batch.
            deadline = time.monotonic() + 10
            while not runtime.controller.state.phase.finished and time.monotonic() < deadline:
                time.sleep(0.5)
                seen_events = _print_events(console, store, seen_events)
            after = 0
            if runtime.controller.state.phase is Phase.ROLLED_BACK:
                # Users keep talking: their conversations continue on stable.
                tail = run_traffic(
                    TrafficConfig(base_url=gw.url, requests=300, concurrency=16, seed=seed + 999)
                )
                after = len(tail.outcomes)
                served += after
                versions = {o.version for o in tail.outcomes}
                answered = ", ".join(sorted(versions))
                console.print(f"after the rollback: {after} more requests, answered by {answered}")
        _print_events(console, store, seen_events)
        state = runtime.controller.state
        _summary(console, store, served, time.perf_counter() - started, state.phase, state.reason)
        store.close()


def _print_events(console: Console, store: Store, after: int) -> int:
    for event in store.list_events("demo", after_id=after):
        style = {"rolled_back": "bold red", "promoted": "bold green", "step_advanced": "cyan"}.get(
            event["kind"], "dim"
        )
        console.print(f"[{style}]{event['kind']:>16}[/]  {event['message']}")
        after = event["id"]
    return after


def _summary(
    console: Console, store: Store, served: int, elapsed: float, phase: Phase, reason: str
) -> None:
    aggregates = store.aggregate_versions(since=0)
    table = Table(title="What the gateway recorded, per version")
    table.add_column("version", no_wrap=True)
    for col in ("requests", "errors", "p50", "p95", "harmful compl.", "PII leaks"):
        table.add_column(col, justify="right")
    for version in ("stable", "candidate"):
        agg = aggregates.get(version)
        if agg is None:
            continue
        lat = sorted(store.latencies(version))
        scored = max(agg.scored, 1)
        table.add_row(
            version,
            str(agg.requests),
            f"{agg.errors / max(agg.requests, 1):.2%}",
            f"{statistics.median(lat):.0f} ms" if lat else "-",
            f"{lat[int(0.95 * (len(lat) - 1))]:.0f} ms" if lat else "-",
            f"{agg.flags.get('harmful_compliance', 0) / scored:.2%}",
            f"{agg.flags.get('pii_leak', 0) / scored:.2%}",
        )
    Console().print(table)
    recorded = store.count_interactions()
    console.print(f"decision: [bold]{phase.value}[/] - {reason}")
    lost = served - recorded
    console.print(
        f"{served} requests in {elapsed:.0f} s; records written: {recorded}; lost: {lost}"
    )
