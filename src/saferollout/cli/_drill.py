"""`saferollout drill`: practise the rollback against the configured versions.

In staging: a short canary at 50% through the real gateway and controller on a
scratch SQLite store (the production rollout state is not touched), then a
forced failing trigger that the controller handles exactly as a real one
(route, persist, audit), then a check that every request went back to stable
and that every request was recorded once. Each phase is timed; the report is
written as JSON and printed.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from ..config import CanaryStep, RolloutConfig
from ..rollout import Decision, Judgement, MetricVerdict, Phase, Status
from ..simulation import TrafficConfig, run_traffic
from ..store import Store, VersionAggregate
from ._common import config_option, fail, load_or_exit
from ._runtime import Runtime


class ForcedFailure:
    """Wraps the real judge; once armed, reports a failing critical trigger."""

    def __init__(self, judge: Any) -> None:
        self.judge = judge
        self.armed_at: float | None = None

    def __call__(self, aggregates: Mapping[str, VersionAggregate], **kw: Any) -> Judgement:
        real = self.judge(aggregates, **kw)
        if self.armed_at is None:
            return real
        forced = MetricVerdict(
            "drill_forced_failure", Status.FAIL, critical=True, reason="forced by saferollout drill"
        )
        return Judgement(
            Decision.ROLLBACK, [*real.verdicts, forced], reason="drill: forced failure"
        )


def drill_config(cfg: RolloutConfig, db: Path) -> RolloutConfig:
    strategy = cfg.strategy.model_copy(
        update={"type": "canary", "steps": [CanaryStep(weight=50)], "interval_s": 0.2}
    )
    return cfg.model_copy(
        update={
            "name": f"{cfg.name}-drill",
            "strategy": strategy,
            "storage": cfg.storage.model_copy(update={"url": f"sqlite:///{db}"}),
            "server": cfg.server.model_copy(update={"flush_interval_s": 0.1}),
            # The drill's own loopback traffic carries no client key.
            "clients": None,
        }
    )


def _answered(outcomes: list[Any]) -> bool:
    """Nearly all answered: a staging server may fail a request now and then."""
    return sum(o.status == 200 for o in outcomes) >= 0.98 * len(outcomes)


@click.command()
@config_option
@click.option("--requests", "n", default=200, show_default=True, help="Requests per phase")
@click.option("--out", type=click.Path(file_okay=False), default="drill-report", show_default=True)
def drill(config_path: str, n: int, out: str) -> None:
    """Practise a rollback: canary, forced failing trigger, traffic back on stable."""
    cfg = load_or_exit(config_path)
    if n < 20:
        fail("--requests must be at least 20")
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    phases: dict[str, float] = {}
    checks: dict[str, bool] = {}
    with tempfile.TemporaryDirectory(prefix="saferollout-drill-") as tmp:
        dcfg = drill_config(cfg, Path(tmp) / "drill.db")
        store = Store(dcfg.storage.url)
        runtime = Runtime.build(dcfg, store)
        forced = ForcedFailure(runtime.controller.judge)
        runtime.controller.judge = forced
        sent = 0
        with runtime:
            gw = runtime.start_in_thread(scoring=False)
            benign = TrafficConfig(base_url=gw.url, requests=n, harmful_share=0.0, concurrency=8)
            t0 = time.perf_counter()
            canary = run_traffic(benign)
            phases["canary_traffic_s"] = time.perf_counter() - t0
            sent += len(canary.outcomes)
            versions = {o.version for o in canary.outcomes}
            checks["candidate_served_during_canary"] = cfg.candidate in versions
            checks["canary_requests_answered"] = _answered(canary.outcomes)

            forced.armed_at = time.perf_counter()
            deadline = forced.armed_at + 10
            while (
                runtime.controller.state.phase is not Phase.ROLLED_BACK
                and time.perf_counter() < deadline
            ):
                time.sleep(0.005)
            rolled_back = time.perf_counter()
            phases["trigger_to_rolled_back_s"] = rolled_back - forced.armed_at
            checks["rolled_back"] = runtime.controller.state.phase is Phase.ROLLED_BACK
            checks["routing_at_zero"] = (
                runtime.gateway.router.table.weights().get(cfg.candidate, 0) == 0
            )

            after = run_traffic(TrafficConfig(**{**benign.__dict__, "seed": 1}))
            phases["verify_traffic_s"] = time.perf_counter() - rolled_back
            sent += len(after.outcomes)
            checks["all_traffic_on_stable_after"] = {o.version for o in after.outcomes} == {
                cfg.stable
            }
            checks["sessions_continue"] = _answered(after.outcomes)
        recorded = store.count_interactions()
        checks["every_request_recorded_once"] = recorded == sent
        events = [
            {"kind": e["kind"], "message": e["message"], "actor": e["actor"]}
            for e in store.list_events(dcfg.name)
        ]
        store.close()
    report = {
        "rollout": cfg.name,
        "stable": cfg.stable,
        "candidate": cfg.candidate,
        "passed": all(checks.values()),
        "checks": checks,
        "phases_s": {k: round(v, 4) for k, v in phases.items()},
        "requests_sent": sent,
        "records_written": recorded,
        "events": events,
    }
    (out_dir / "drill-report.json").write_text(json.dumps(report, indent=2))
    for name, ok in checks.items():
        click.echo(f"{'PASS' if ok else 'FAIL'}  {name.replace('_', ' ')}")
    for name, seconds in phases.items():
        click.echo(f"      {name.replace('_', ' ')}: {seconds * 1000:.1f} ms")
    click.echo(f"report: {out_dir / 'drill-report.json'}")
    if not report["passed"]:
        raise SystemExit(1)
