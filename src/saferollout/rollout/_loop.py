"""Runs the controller's tick on its own thread, every `strategy.interval_s`.

A thread, not an asyncio task: a tick reads aggregates from the database
(synchronous SQLAlchemy), and that wait must never sit on the gateway's loop.
"""

from __future__ import annotations

import logging
import threading

from ._controller import Controller

log = logging.getLogger("saferollout.rollout")


class ControllerLoop:
    def __init__(self, controller: Controller, interval_s: float) -> None:
        self.controller = controller
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="controller", daemon=True)

    def start(self) -> ControllerLoop:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.controller.tick()
            except Exception:  # a failed tick (database away) must not end the loop
                log.exception("controller tick failed; retrying next interval")
