"""`saferollout demo`: the gateway on simulated model servers, end to end.

For now: two simulated versions on loopback, the gateway with a 90/10 split,
a few thousand requests from simulated multi-turn users, and what the store
recorded per version. Nothing outside the machine is used.
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
from ..gateway import Gateway, start_gateway
from ..simulation import TrafficConfig, run_traffic, start_backend
from ..store import Store


@click.command()
@click.option("--requests", "n_requests", default=3000, show_default=True, help="Requests to send")
@click.option("--seed", default=7, show_default=True)
@click.option("--weight", default=10.0, show_default=True, help="Candidate share in percent")
@click.option(
    "--out", type=click.Path(file_okay=False), default=None, help="Keep the database here"
)
def demo(n_requests: int, seed: int, weight: float, out: str | None) -> None:
    """Run the gateway on simulated model servers and report what it recorded."""
    console = Console(stderr=True)
    workdir = Path(out) if out else Path(tempfile.mkdtemp(prefix="saferollout-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "demo.db"
    db.unlink(missing_ok=True)

    with (
        start_backend("stable", seed=seed, latency_ms=20) as stable,
        start_backend("regressed", seed=seed + 1, latency_ms=20) as candidate,
    ):
        config = parse_config(
            f"""
name: demo
versions:
  stable: {{url: "{stable.base_url}", model: assistant-v1}}
  candidate: {{url: "{candidate.base_url}", model: assistant-v2}}
stable: stable
candidate: candidate
strategy: {{type: canary, steps: [{{weight: {weight}}}]}}
storage: {{url: "sqlite:///{db}"}}
server: {{flush_interval_s: 0.2}}
""",
            env={},
        )
        store = Store(config.storage.url)
        console.print(
            f"[bold]saferollout demo[/]: stable and candidate simulated on {stable.url} and "
            f"{candidate.url}; gateway split {100 - weight:g}/{weight:g}"
        )
        with start_gateway(Gateway(config, store)) as gw:
            console.print(f"gateway on {gw.url}; sending {n_requests} requests ...")
            started = time.perf_counter()
            result = run_traffic(
                TrafficConfig(base_url=gw.url, requests=n_requests, concurrency=32, seed=seed)
            )
            elapsed = time.perf_counter() - started
        # The gateway has stopped: its writer flushed every record.
        summary = store.version_summary()
        table = Table(title=f"Recorded by the gateway ({db})")
        for col in ("version", "requests", "share", "error rate", "latency p50", "latency p95"):
            table.add_column(col, justify="right" if col != "version" else "left")
        total = sum(s["requests"] for s in summary.values())
        for version in (config.stable, config.candidate):
            s = summary.get(version, {"requests": 0, "errors": 0})
            lat = sorted(store.latencies(version))
            table.add_row(
                version,
                str(s["requests"]),
                f"{s['requests'] / total:.1%}" if total else "-",
                f"{s['errors'] / s['requests']:.2%}" if s["requests"] else "-",
                f"{statistics.median(lat):.1f} ms" if lat else "-",
                f"{lat[int(0.95 * (len(lat) - 1))]:.1f} ms" if lat else "-",
            )
        Console().print(table)
        served = len(result.outcomes)
        console.print(
            f"{served} requests in {elapsed:.1f} s ({served / elapsed:.0f}/s); "
            f"records written: {total}; lost: {served - total}"
        )
        store.close()
