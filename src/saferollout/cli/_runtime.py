"""Putting the parts together: gateway + controller + scoring worker.

`serve`, `demo` and the end-to-end tests build the same `Runtime`, so what
the demo shows is what production runs. The gateway does not import the
controller (imports point one way); this module wires one to the other.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ..config import RolloutConfig
from ..gateway import Gateway, GatewayHandle, start_gateway
from ..monitoring import AlertDispatcher, RolloutCollector, add_dashboard, default_dashboard_url
from ..rollout import Controller, Replica, TriggerJudge
from ..safety import ScoringWorkerProcess
from ..store import Store

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
        return cls(config, store, gateway, controller, replica)

    def start_background(self, *, scoring: bool = True) -> None:
        """Start the scoring worker processes, the controller loop and the alerts.

        Raises AlertsError (before starting anything) when an alert sink names an
        environment variable that is not set."""
        if self.config.alerts.sinks:
            # Tails the event log on its own thread; sends only while this replica leads.
            server = self.config.server
            self.alerts = AlertDispatcher(
                self.config.alerts,
                self.store,
                self.config.name,
                dashboard_url=(self.handle.url + "/dashboard")
                if self.handle is not None
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
        self.replica.start()
        if self.alerts is not None:
            self.alerts.start()

    def start_in_thread(
        self, host: str = "127.0.0.1", port: int = 0, *, scoring: bool = True
    ) -> GatewayHandle:
        """Everything in this process (the gateway on a thread): tests and the demo."""
        self.handle = start_gateway(self.gateway, host, port)
        self.start_background(scoring=scoring)
        return self.handle

    def stop(self) -> None:
        """Stop deciding first, then drain the gateway, then let scoring finish."""
        self.replica.stop()
        if self.alerts is not None:  # after the controller: its last events still go out
            self.alerts.stop()
        if self.handle is not None:
            self.handle.stop()
        for scorer in self.scorers:
            scorer.stop()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
