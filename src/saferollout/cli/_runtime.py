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
from ..rollout import Controller, ControllerLoop, TriggerJudge
from ..safety import ScoringWorkerProcess
from ..store import Store

log = logging.getLogger("saferollout.runtime")


@dataclass
class Runtime:
    config: RolloutConfig
    store: Store
    gateway: Gateway
    controller: Controller
    loop: ControllerLoop | None = None
    scorers: list[ScoringWorkerProcess] = field(default_factory=list)
    handle: GatewayHandle | None = field(default=None)

    @classmethod
    def build(
        cls, config: RolloutConfig, store: Store, *, admin_token: str | None = None
    ) -> Runtime:
        gateway = Gateway(config, store, admin_token=admin_token)
        controller = Controller(
            config, store, TriggerJudge(config.triggers), apply_routing=gateway.apply_routing
        )
        gateway.admin.control = controller
        return cls(config, store, gateway, controller)

    def start_background(self, *, scoring: bool = True) -> None:
        """Start the scoring worker processes and the controller loop."""
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
        self.loop = ControllerLoop(self.controller, self.config.strategy.interval_s).start()

    def start_in_thread(
        self, host: str = "127.0.0.1", port: int = 0, *, scoring: bool = True
    ) -> GatewayHandle:
        """Everything in this process (the gateway on a thread): tests and the demo."""
        self.handle = start_gateway(self.gateway, host, port)
        self.start_background(scoring=scoring)
        return self.handle

    def stop(self) -> None:
        """Stop deciding first, then drain the gateway, then let scoring finish."""
        if self.loop is not None:
            self.loop.stop()
        if self.handle is not None:
            self.handle.stop()
        for scorer in self.scorers:
            scorer.stop()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
