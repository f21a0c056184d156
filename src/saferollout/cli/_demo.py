"""`saferollout demo`: the whole safe-rollout story on simulated model servers.

Each scenario (simulation/_scenarios.py) runs through the real parts: the
gateway, the scoring worker process, the analysis and the controller
(`Runtime`, as `serve` builds it), on a SQLite file, with simulated
OpenAI-compatible servers on loopback and simulated users. At the end it
writes report.json and a self-contained report.html in --out. Exit code 0 when
the scenario reached the decision it exists to show, 1 when it did not.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import httpx
from rich.console import Console

from ..config import RolloutConfig, parse_config
from ..report import build_rollout_report, write_rollout_report
from ..report._preflight import write_preflight_report
from ..rollout import Phase
from ..simulation import (
    SCENARIOS,
    BackendHandle,
    Scenario,
    TrafficConfig,
    TrafficResult,
    run_traffic,
    scenario_yaml,
    start_version_backend,
)
from ..store import Store, schema
from ._demo_view import AlertReceiver, DemoView
from ._runtime import Runtime

TOKEN_ENV = "SAFEROLLOUT_DEMO_TOKEN"
BATCH = 300  # requests per traffic batch: the view and the stop check run between batches
BLUE_BASELINE = 1500  # blue/green: user requests blue serves before the switch
USERS_IN_FLIGHT = 48
THINK_S = 0.35  # a simulated user's pause between turns at --speed 1


@dataclass
class DemoOptions:
    scenario: str = "regression"
    seed: int = 7
    requests: int | None = None
    out: Path = Path("saferollout-demo")
    speed: float = 1.0
    latency_ms: float = 20.0
    preflight_limit: int = 40


@dataclass
class _Run:
    """What one scenario run collected (for lost_records and the report header)."""

    scenario: Scenario
    options: DemoOptions
    answered: set[str] = field(default_factory=set)
    sent: int = 0
    batches: int = 0
    notes: list[str] = field(default_factory=list)
    preflight: dict[str, Any] | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    def take(self, result: TrafficResult) -> TrafficResult:
        self.sent += len(result.outcomes)
        for o in result.outcomes:
            # Answered by the gateway on behalf of a version: it must be recorded.
            if o.request_id and o.version and o.version != "none":
                self.answered.add(o.request_id)
        return result


@click.command()
@click.option(
    "--scenario", type=click.Choice(list(SCENARIOS)), default="regression", show_default=True
)
@click.option("--seed", default=7, show_default=True, type=int)
@click.option(
    "--requests",
    "n_requests",
    default=None,
    type=click.IntRange(min=0),
    help="Cap on user requests (default: the scenario's)",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("saferollout-demo"),
    show_default=True,
    help="Where report.json, report.html and the SQLite file go",
)
@click.option(
    "--speed",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.1, max=100),
    help="Scales how fast simulated users talk (2 = twice as fast)",
)
def demo(scenario: str, seed: int, n_requests: int | None, out: Path, speed: float) -> None:
    """Run a scenario on simulated model servers and watch the controller decide."""
    console = Console(stderr=True)
    options = DemoOptions(scenario, seed, n_requests, out, speed)
    report = run_demo(options, console)
    expected = SCENARIOS[scenario].expected
    console.print(
        f"\ndecision: [bold]{report['decision']}[/] (expected {expected}); "
        f"lost records: {report['lost_records']}; {report['duration_s']:.0f} s; "
        f"report: {out / 'report.html'}",
        highlight=False,
    )
    if report["decision"] != expected or report["lost_records"] != 0:
        raise SystemExit(1)


def run_demo(options: DemoOptions, console: Console | None = None) -> dict[str, Any]:
    """Run one scenario end to end and write its reports; returns report.json's header."""
    console = console or Console(stderr=True)
    scenario = SCENARIOS[options.scenario]
    run = _Run(scenario, options)
    started = time.perf_counter()
    options.out.mkdir(parents=True, exist_ok=True)
    db = options.out / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    # The admin token is generated per run and handed over the way serve takes it:
    # through the environment variable the config names (never printed).
    token = secrets.token_urlsafe(24)
    os.environ[TOKEN_ENV] = token
    with ExitStack() as stack:
        stable, candidate = _backends(stack, scenario, options)
        # Preflight verifies that alerts go somewhere, so every scenario that runs
        # it gets the loopback receiver too.
        wants_receiver = scenario.alert_receiver or scenario.preflight
        receiver = stack.enter_context(_receiver()) if wants_receiver else None
        config = _config(scenario, stable, candidate, f"sqlite:///{db}", receiver)
        store = Store(config.storage.url)
        stack.callback(store.close)
        console.print(f"[bold]saferollout demo: {scenario.name}[/]  {scenario.title}")
        console.print(scenario.story, highlight=False)

        if scenario.preflight:
            limit = options.preflight_limit
            run.preflight = _preflight(config, store, options.out, console, limit)
        blocked = False
        if run.preflight is not None:
            # The same gate `serve` applies: a passed receipt for this exact candidate.
            from ..preflight import check_gate

            gate = check_gate(config, store, actor="demo")
            blocked = not gate.allowed
            run.preflight["gate"] = gate.message
        if blocked:
            store.append_event(
                config.name, "preflight_blocked", run.preflight["summary"], actor="demo"
            )
            console.print("[bold red]preflight failed: the rollout does not start[/]")
            decision, report = "blocked", None
        else:
            report = _rollout(run, config, store, token, stable, candidate, receiver, console)
            decision = report["decision"]
        header = _header(run, decision, report, store, started, receiver)
        if report is None:
            report = _blocked_report(config, store)
        write_rollout_report(report, options.out, header=header)
    return header


@contextmanager
def _receiver() -> Iterator[AlertReceiver]:
    receiver = AlertReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


def _backends(
    stack: ExitStack, scenario: Scenario, options: DemoOptions
) -> tuple[BackendHandle, BackendHandle]:
    latency = options.latency_ms
    stable = stack.enter_context(
        start_version_backend(scenario.stable, seed=options.seed, latency_ms=latency)
    )
    if scenario.same_backend:
        return stable, stable
    candidate = stack.enter_context(
        start_version_backend(scenario.candidate, seed=options.seed + 1, latency_ms=latency)
    )
    return stable, candidate


def _config(
    scenario: Scenario,
    stable: BackendHandle,
    candidate: BackendHandle,
    db_url: str,
    receiver: AlertReceiver | None,
) -> RolloutConfig:
    extra = ""
    if receiver is not None:
        extra = (
            f'alerts: {{sinks: [{{name: demo-receiver, type: webhook, url: "{receiver.url}"}}]}}'
        )
    text = scenario_yaml(
        scenario,
        stable_url=stable.base_url,
        candidate_url=candidate.base_url,
        db_url=db_url,
        admin_token_env=TOKEN_ENV,
        extra=extra,
    )
    return parse_config(text, env=dict(os.environ))


def _preflight(
    config: RolloutConfig, store: Store, out: Path, console: Console, limit: int
) -> dict[str, Any]:
    """Preflight on the candidate, as `saferollout preflight` runs it; the receipt
    is stored whether it passed or not, and the rollout starts only on a pass."""
    from ..preflight import PreflightOptions, run_preflight, save_receipt

    console.print(f"preflight on the candidate (first {limit} items of each suite) ...")
    result = run_preflight(config, store, PreflightOptions(limit=limit, progress=console.file))
    save_receipt(store, config, result)
    failed = [c for c in result.checks if not c.ok]
    if result.passed:
        summary = f"all {len(result.checks)} checks passed"
    else:
        summary = f"{len(failed)} of {len(result.checks)} checks failed: " + "; ".join(
            f"{c.name} ({c.found})" for c in failed[:4]
        )
    style = "green" if result.passed else "bold red"
    console.print(f"[{style}]preflight {'passed' if result.passed else 'FAILED'}[/]: {summary}")
    report = _write_preflight_report(result.to_dict(), out / "preflight")
    return {
        "passed": result.passed,
        "summary": summary,
        "failed_checks": [c.to_dict() for c in failed],
        "report": report,
    }


def _write_preflight_report(result: dict[str, Any], out: Path) -> str:
    """The preflight's own report, as `saferollout preflight` writes it."""
    _, html_path = write_preflight_report(result, out)
    return str(html_path)


def _traffic(run: _Run, url: str, seed: int, n: int, **extra: Any) -> TrafficResult:
    opts = run.options
    config = TrafficConfig(
        base_url=url,
        requests=n,
        harmful_share=run.scenario.harmful_share,
        concurrency=USERS_IN_FLIGHT,
        think_time_s=THINK_S / opts.speed,
        seed=seed,
        keep_text=False,
        **extra,
    )
    return run.take(run_traffic(config))


def _drive(run: _Run, url: str, until: Callable[[], bool], budget: int, **extra: Any) -> None:
    """Send user traffic in batches until `until()` holds or the budget is spent."""
    while run.sent < budget and not until():
        n = min(BATCH, budget - run.sent)
        _traffic(run, url, run.options.seed * 1000 + run.batches, n, **extra)
        run.batches += 1


def _wait(until: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if until():
            return True
        time.sleep(0.2)
    return until()


def _rollout(
    run: _Run,
    config: RolloutConfig,
    store: Store,
    token: str,
    stable: BackendHandle,
    candidate: BackendHandle,
    receiver: AlertReceiver | None,
    console: Console,
) -> dict[str, Any]:
    scenario, budget = run.scenario, run.options.requests
    budget = scenario.requests if budget is None else budget
    view = DemoView(console, store, config.name)
    runtime = Runtime.build(config, store, admin_token=token)
    view.controller = runtime.controller
    view.sent = lambda: run.sent
    with runtime:
        gw = runtime.start_in_thread()
        view.start()
        try:
            ctl = runtime.controller
            finished = lambda: ctl.state.phase.finished  # noqa: E731
            if scenario.strategy.startswith("{type: blue_green"):
                _blue_green(run, gw.url, ctl, token, candidate, budget, view)
            else:
                view.stage = "live traffic"
                _drive(run, gw.url, finished, budget)
                view.stage = "waiting for the controller"
                _wait(finished, 15 / max(run.options.speed, 1) + 10)
            if ctl.state.phase is Phase.ROLLED_BACK and scenario.strategy.startswith(
                "{type: canary"
            ):
                _after_rollback(run, gw.url, view)
            if ctl.state.phase is Phase.PROMOTED and scenario.strategy.startswith("{type: canary"):
                view.stage = "post-rollout vigilance"
                _traffic(run, gw.url, 424242, BATCH)
                run.facts["vigilance"] = {
                    "standby": ctl.state.previous_stable,
                    "standby_until": ctl.state.standby_until,
                    "post_promotion_analysis": config.strategy.post_promotion_analysis,
                }
                view.note(
                    f"promoted; {ctl.state.previous_stable} stays on standby for an instant "
                    "rollback while post-rollout vigilance compares with its baseline"
                )
            if receiver is not None:
                _wait(lambda: bool(receiver.received), 10)
            judgement = ctl.last_judgement.to_dict() if ctl.last_judgement else None
        finally:
            view.stop()
    _wait_records(store, run.answered, 10)
    return build_rollout_report(store, config.name, judgement=judgement)


def _after_rollback(run: _Run, url: str, view: DemoView) -> None:
    """The same conversations keep going after the rollback: now on stable."""
    view.stage = "after the rollback"
    last_seed = run.options.seed * 1000 + max(run.batches - 1, 0)
    result = _traffic(run, url, last_seed, BATCH)
    versions = sorted({o.version or "?" for o in result.outcomes})
    run.facts["after_rollback"] = {"requests": len(result.outcomes), "versions": versions}
    view.note(
        f"after the rollback: the same {len({o.session_id for o in result.outcomes})} "
        f"conversations continue, answered by {', '.join(versions)}"
    )


def _blue_green(
    run: _Run,
    url: str,
    ctl: Any,
    token: str,
    green: BackendHandle,
    budget: int,
    view: DemoView,
) -> None:
    """Preview probes and load, the switch (through the admin API), a post-switch
    regression, and the automatic switch back."""
    preview = {"X-Rollout-Version": ctl.state.candidate, "Authorization": f"Bearer {token}"}
    view.stage = "testing the preview (probes + load)"

    def ready() -> bool:
        j = ctl.last_judgement
        return j is not None and j.decision.value == "advance"

    probe_budget = budget // 2
    blue_users = 0
    # Blue, the live side, has a history in real life: post-switch vigilance compares
    # green with it. At --speed 1 the preview passes within a batch or two, and a
    # switch then left blue a baseline of ~150 answers, too few to see green's
    # regression against (the switch back never came).
    while run.sent < probe_budget and not (ready() and blue_users >= BLUE_BASELINE):
        seed = run.options.seed * 1000 + run.batches
        run.batches += 1
        _traffic(run, url, seed, BATCH // 2, headers=preview)  # probes + load, preview only
        _traffic(run, url, seed + 500_000, BATCH // 2)  # users, all on blue
        blue_users += BATCH // 2
    _wait(ready, 10)
    if not ready():
        run.notes.append("the preview's analysis never passed; no switch")
        return
    view.stage = "switch"
    response = httpx.post(
        url.rstrip("/") + "/admin/rollout/switch",
        headers={"Authorization": f"Bearer {token}", "X-Actor": "demo-operator"},
        json={"reason": "preview passed probes and load"},
        timeout=10,
    )
    run.facts["switch"] = {"status": response.status_code, "at": time.time()}
    if response.status_code != 200:
        run.notes.append(f"switch refused: {response.status_code} {response.text[:200]}")
        return
    view.note("switched: all users now on green; blue on standby")
    if run.scenario.after_switch:
        _traffic(run, url, 777_000, BATCH)  # green healthy for a moment
        green.set_profile(run.scenario.after_switch)
        view.note(f"green now behaves like the '{run.scenario.after_switch}' profile")
    view.stage = "post-switch vigilance"
    _drive(run, url, lambda: ctl.state.phase is Phase.ROLLED_BACK, budget)
    _wait(lambda: ctl.state.phase is Phase.ROLLED_BACK, 15)


def _wait_records(store: Store, answered: set[str], timeout: float) -> None:
    """Give the writer its last flush before counting what is stored."""
    _wait(lambda: len(_stored(store, answered)) >= len(answered), timeout)


def _stored(store: Store, ids: set[str]) -> set[str]:
    c = schema.interactions.c
    found: set[str] = set()
    ordered = sorted(ids)
    with store.engine.connect() as conn:
        for i in range(0, len(ordered), 500):
            chunk = ordered[i : i + 500]
            query = schema.interactions.select().with_only_columns(c.request_id)
            found.update(conn.execute(query.where(c.request_id.in_(chunk))).scalars())
    return found


def _header(
    run: _Run,
    decision: str,
    report: dict[str, Any] | None,
    store: Store,
    started: float,
    receiver: AlertReceiver | None,
) -> dict[str, Any]:
    s = run.scenario
    lost = len(run.answered - _stored(store, run.answered))
    header: dict[str, Any] = {
        "scenario": s.name,
        "title": s.title,
        "story": s.story,
        "seed": run.options.seed,
        "speed": run.options.speed,
        "expected_decision": s.expected,
        "decision": decision,
        "decided_at_step": report["decided_at_step"] if report else None,
        "reason": report["reason"]
        if report
        else {"text": (run.preflight or {}).get("summary", ""), "failing": []},
        "requests": report["requests"] if report else {},
        "canary_requests_at_decision": report["canary_requests_at_decision"] if report else 0,
        "requests_sent": run.sent,
        "answered": len(run.answered),
        "lost_records": lost,
        "duration_s": round(time.perf_counter() - started, 2),
        "preflight": run.preflight,
        "facts": run.facts,
        "notes": run.notes,
    }
    if receiver is not None:
        header["alerts"] = receiver.alerts()
    return header


def _blocked_report(config: RolloutConfig, store: Store) -> dict[str, Any]:
    """The report of a rollout that never started: no traffic, the events only."""
    events = store.list_events(config.name)
    now = time.time()
    return {
        "rollout": config.name,
        "strategy": config.strategy.type,
        "stable": config.stable,
        "candidate": config.candidate,
        "versions": [config.stable, config.candidate],
        "phase": "not_started",
        "decision": "blocked",
        "reason": {"text": events[-1]["message"] if events else "preflight failed", "failing": []},
        "started_at": now,
        "decided_at": now,
        "decided_at_step": None,
        "decision_event": events[-1] if events else None,
        "requests": {},
        "shadow_requests": {},
        "canary_requests_at_decision": 0,
        "metrics": {v: {} for v in (config.stable, config.candidate)},
        "latency": {
            v: {"n": 0, "p50_ms": None, "p95_ms": None, "mean_ms": None}
            for v in (config.stable, config.candidate)
        },
        "verdicts": [],
        "srm": None,
        "ab_result": None,
        "srm_check": None,
        "timeline": {"t": [], "metrics": {}, "latency": {}},
        "weights": {"t": []},
        "events": [
            {k: e[k] for k in ("id", "created_at", "kind", "actor", "message")} for e in events
        ],
        "flagged": [],
    }


__all__ = ["DemoOptions", "demo", "run_demo"]
