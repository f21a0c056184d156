"""Putting the parts together: gateway + controller + scoring worker.

`serve`, `demo` and the end-to-end tests build the same `Runtime`, so what
the demo shows is what production runs. The gateway does not import the
controller (imports point one way); this module wires one to the other.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from ..config import RolloutConfig
from ..gateway import Gateway, GatewayHandle, start_gateway
from ..monitoring import AlertDispatcher, RolloutCollector, add_dashboard, default_dashboard_url
from ..preflight import default_suite_paths, load_suites, probe_preview
from ..rollout import Controller, Phase, Replica, TriggerJudge
from ..safety import ScoringWorkerProcess
from ..store import Store
from ._report import DecisionReporter

log = logging.getLogger("saferollout.runtime")


@dataclass
class Runtime:
    config: RolloutConfig
    store: Store
    gateway: Gateway
    controller: Controller
    replica: Replica
    scorers: list[ScoringWorkerProcess] = field(default_factory=list)
    handle: GatewayHandle | None = field(default=None)
    alerts: AlertDispatcher | None = field(default=None)
    reporter: DecisionReporter | None = field(default=None)
    admin_token: str | None = field(default=None, repr=False)
    _probe: threading.Thread | None = field(default=None, repr=False)
    _stopping: threading.Event = field(default_factory=threading.Event, repr=False)

    @classmethod
    def build(
        cls, config: RolloutConfig, store: Store, *, admin_token: str | None = None
    ) -> Runtime:
        gateway = Gateway(config, store, admin_token=admin_token)
        controller = Controller(
            config, store, TriggerJudge(config.triggers), apply_routing=gateway.apply_routing
        )
        replica = Replica(controller, interval_s=config.strategy.interval_s)
        gateway.admin.control = replica
        # The gateway serves the dashboard; it does not import monitoring.
        add_dashboard(gateway.app, store, replica, config, admin_token=admin_token)
        # What the controller judges, on the gateway's /metrics (read at scrape time).
        gateway.metrics.registry.register(
            RolloutCollector(replica, store, versions=list(config.versions))
        )
        return cls(config, store, gateway, controller, replica, admin_token=admin_token)

    def start_background(
        self, *, scoring: bool = True, url: str | None = None, report_dir: Path | None = None
    ) -> None:
        """Start the scoring worker processes, the controller loop and the alerts
        (and, for blue/green, the preview probe through the gateway at `url`;
        with `report_dir`, the report of each decision, written by the leader).

        Raises AlertsError (before starting anything) when an alert sink names an
        environment variable that is not set."""
        if url is None and self.handle is not None:
            url = self.handle.url
        if self.config.alerts.sinks:
            # Tails the event log on its own thread; sends only while this replica leads.
            server = self.config.server
            self.alerts = AlertDispatcher(
                self.config.alerts,
                self.store,
                self.config.name,
                dashboard_url=(url + "/dashboard")
                if url is not None
                else default_dashboard_url(server.host, server.port),
                registry=self.gateway.metrics.registry,
                leading=lambda: self.replica.is_leader,
            )
        safety = self.config.safety
        if scoring and safety.enabled and safety.worker.embedded:
            count = safety.worker.processes
            if self.store.is_sqlite and count > 1:
                log.warning("SQLite takes one scoring worker; starting 1 of %d", count)
                count = 1
            self.scorers = [
                ScoringWorkerProcess(
                    self.config.storage.url,
                    safety,
                    name=f"scorer-{i}",
                    rollout=self.config.name,
                    baseline_version=self.config.stable,
                ).start()
                for i in range(count)
            ]
        if report_dir is not None:
            self.reporter = DecisionReporter(
                self.store, self.config, report_dir, leading=lambda: self.replica.is_leader
            )
            self.controller.on_event = self.reporter.on_event
            self.reporter.start()
        self.replica.start()
        if self.alerts is not None:
            self.alerts.start()
        probe = self.config.strategy.preview_probe
        if url is not None and self.config.strategy.type == "blue_green" and probe.enabled:
            self._probe = threading.Thread(
                target=self._probe_preview, args=(url,), name="preview-probe", daemon=True
            )
            self._probe.start()

    def _probe_preview(self, url: str) -> None:
        """Blue/green: send the preview suite prompts and a load once per rollout, from
        the leader, so its analysis has answers to judge before `switch`."""
        deadline = time.monotonic() + 30
        while not (self.replica.is_leader and _ready(url)):
            if time.monotonic() > deadline or self._stopping.is_set():
                return
            time.sleep(0.1)
        state = self.controller.state
        if state.phase is not Phase.PROGRESSING:
            return
        events = self.store.list_events(self.config.name, limit=1000)
        if any(
            e["kind"] == "preview_probed" and e["created_at"] >= state.started_at for e in events
        ):
            return  # restarted: this preview was probed already
        cfg = self.config.strategy.preview_probe
        items = load_suites(
            self.config.preflight.suites or default_suite_paths(), limit=cfg.items_per_suite
        )
        try:
            result = probe_preview(
                url,
                state.candidate,
                self.admin_token,
                items=items,
                load_requests=cfg.load_requests,
                concurrency=cfg.concurrency,
            )
        except Exception:
            log.exception("the preview probe failed")
            return
        if self._stopping.is_set():
            return
        p50 = result.percentile(0.5)
        self.store.append_event(
            self.config.name,
            "preview_probed",
            f"preview {state.candidate} probed: {result.ok} of {result.sent} answered",
            actor="runtime",
            data={
                "version": state.candidate,
                "sent": result.sent,
                "ok": result.ok,
                "errors": dict(result.errors),
                "latency_p50_ms": p50,
            },
        )

    def start_in_thread(
        self, host: str = "127.0.0.1", port: int = 0, *, scoring: bool = True
    ) -> GatewayHandle:
        """Everything in this process (the gateway on a thread): tests and the demo."""
        self.handle = start_gateway(self.gateway, host, port)
        self.start_background(scoring=scoring)
        return self.handle

    def stop(self) -> None:
        """Stop deciding first, then drain the gateway, then let scoring finish."""
        self._stopping.set()
        self.replica.stop()
        if self.alerts is not None:  # after the controller: its last events still go out
            self.alerts.stop()
        if self.reporter is not None:  # a report cut short is written by the next start
            self.reporter.stop()
        if self.handle is not None:
            self.handle.stop()
        if self._probe is not None:  # its requests fail fast once the gateway is gone
            self._probe.join(10)
        for scorer in self.scorers:
            scorer.stop()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False
