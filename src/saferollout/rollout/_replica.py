"""One process's part in a rollout: it leads while it holds the lease, follows otherwise.

Every gateway replica builds a Controller (it needs the routing) and a
Replica around it. The replica holding the lease in the store is the leader:
it ticks the controller, runs admin actions (its own and those forwarded by
followers through the store) and publishes its judgement. The others follow:
they reload the persisted state when its revision changes and apply its
routing, so a rollback reaches every replica within `sync_s`.

Why a lease row and not a PostgreSQL advisory lock: an advisory lock lives
with one connection, so a leader whose connection is dropped keeps acting
until it notices; a lease with an expiry and a fencing token checked inside
every state write refuses a deposed leader's write even if it never notices.
The same code runs on SQLite (one process, where it simply always leads).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

from ..store import StoreError, apply_retention
from ._controller import Controller, InvalidAction

log = logging.getLogger("saferollout.rollout")


def replica_id() -> str:
    """host:pid:random, unique per process start, readable in the audit log."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class ForwardTimeout(TimeoutError):
    """No leader ran a forwarded admin action in time."""


class Replica:
    def __init__(
        self,
        controller: Controller,
        *,
        interval_s: float,
        holder: str | None = None,
        lease_ttl_s: float = 5.0,
        renew_s: float = 1.0,
        sync_s: float = 0.25,
        command_timeout_s: float = 10.0,
    ) -> None:
        self.controller = controller
        self.store = controller.store
        self.rollout = controller.config.name
        self.lease_name = f"controller:{self.rollout}"
        self.holder = holder or replica_id()
        self.interval_s = interval_s
        self.lease_ttl_s = lease_ttl_s
        self.renew_s = renew_s
        self.sync_s = sync_s
        self.command_timeout_s = command_timeout_s
        self.token: int | None = None
        self._lease_valid_until = 0.0  # monotonic; we stop leading at this point at the latest
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="controller", daemon=True)
        # Retention runs beside the loop, never in it: a long cleanup must not delay a rollback.
        self._retention = threading.Thread(
            target=self._run_retention, name="retention", daemon=True
        )
        # PostgreSQL: a notification wakes a follower at once; polling is the fallback.
        self._wake = threading.Event()
        self._listener = threading.Thread(
            target=self.store.watch_state,
            args=(self._stop, self._notified),
            name="state-listener",
            daemon=True,
        )

    # -- the RolloutControl protocol (admin routes) ---------------------------

    @property
    def is_leader(self) -> bool:
        return self.token is not None and time.monotonic() < self._lease_valid_until

    def snapshot(self) -> dict[str, Any]:
        snap = self.controller.snapshot()
        if not self.is_leader:
            with contextlib.suppress(StoreError):  # else keep what this replica last saw
                snap["judgement"] = self.store.get_judgement(self.rollout)
        snap["replica"] = {"id": self.holder, "leader": self.is_leader}
        return snap

    def act(self, action: str, *, actor: str, full: bool = False, reason: str = "") -> Any:
        """Run an admin action on the leader: here if we lead, else through the store."""
        if self._stop.is_set():
            raise ForwardTimeout("the controller is shutting down; try again on another replica")
        if self.is_leader or not self._thread.is_alive():
            # Leading, or not replicated at all (the loop was never started): act here.
            return self.controller.act(action, actor=actor, full=full, reason=reason)
        command_id = self.store.enqueue_command(
            self.rollout, action, actor=actor, body={"full": full, "reason": reason}
        )
        deadline = time.monotonic() + self.command_timeout_s
        while time.monotonic() < deadline:
            command = self.store.get_command(command_id)
            if command is not None and command["status"] != "pending":
                return self._outcome(action, command)
            time.sleep(0.05)
        # Withdraw it so a leader arriving later does not act on a request we
        # already answered as failed; if the leader finished it meanwhile, say so.
        if not self.store.finish_command(command_id, "failed", {"message": "no leader in time"}):
            command = self.store.get_command(command_id)
            if command is not None and command["status"] != "pending":
                return self._outcome(action, command)
        raise ForwardTimeout(
            f"no controller leader ran {action!r} within {self.command_timeout_s:g}s"
        )

    def _outcome(self, action: str, command: dict[str, Any]) -> Any:
        self.controller.sync()
        if command["status"] == "refused":
            raise InvalidAction(action, command["result"]["message"])
        if command["status"] == "failed":
            raise RuntimeError(f"the leader failed to {action}: {command['result']['message']}")
        return self.controller.state

    # -- the loop ------------------------------------------------------------------

    def start(self) -> Replica:
        if not self.store.is_sqlite:
            self._listener.start()
        self._thread.start()
        retention = self.controller.config.storage.retention
        if retention.days is not None or retention.max_rows is not None:
            self._retention.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        for helper in (self._retention, self._listener):
            if helper.is_alive():
                helper.join(timeout)
        if self.token is not None:
            try:
                self.store.release_lease(self.lease_name, self.holder)
            except StoreError:
                log.warning("could not release the controller lease; it expires by itself")
            self.token = None

    def _run(self) -> None:
        next_renew = 0.0
        next_tick = time.monotonic() + self.interval_s
        while not self._stop.is_set():
            now = time.monotonic()
            try:
                if now >= next_renew:
                    self._renew(now)
                    next_renew = now + self.renew_s
                if self.is_leader:
                    self._run_commands()
                    if now >= next_tick:
                        next_tick = now + self.interval_s
                        judgement = self.controller.tick()
                        if judgement is not None:
                            self.store.put_judgement(self.rollout, judgement.to_dict())
                else:
                    self.controller.sync()
            except Exception:  # the database away: keep the last routing, try again
                log.exception("controller replica loop failed; retrying")
            self._wake.wait(self.sync_s)
            self._wake.clear()

    def _notified(self, rollout: str) -> None:
        if rollout == self.rollout and not self.is_leader:
            self._wake.set()

    def _run_retention(self) -> None:
        cfg = self.controller.config.storage.retention
        while not self._stop.is_set():
            wait = 1.0  # not leading: look again soon, we may be elected
            if self.is_leader:
                wait = cfg.interval_s
                try:
                    deleted = apply_retention(
                        self.store, days=cfg.days, max_rows=cfg.max_rows, batch_size=cfg.batch_size
                    )
                    if deleted:
                        log.info("retention: deleted %d interaction records", deleted)
                except Exception:
                    log.exception("retention cleanup failed; retrying next interval")
            self._stop.wait(wait)

    def _renew(self, now: float) -> None:
        token = self.store.acquire_lease(self.lease_name, self.holder, self.lease_ttl_s)
        if token is None:
            if self.token is not None:
                log.warning("lost the controller lease; following")
            self.token = None  # the fence keeps the old token: the store refuses its writes
            return
        if self.token != token:
            # Newly elected: start from what the previous leader persisted.
            self.controller.fence = (self.lease_name, token)
            self.controller.sync(force=True)
            log.info("leading rollout %s (fencing token %d)", self.rollout, token)
        self.token = token
        # Our own clock bounds the lease: stop leading a little before the store would expire it.
        self._lease_valid_until = now + self.lease_ttl_s * 0.8

    def _run_commands(self) -> None:
        for command in self.store.pending_commands(self.rollout):
            body = command["body"]
            try:
                self.controller.act(
                    command["action"],
                    actor=command["actor"],
                    full=bool(body.get("full", False)),
                    reason=str(body.get("reason", "")),
                )
            except InvalidAction as exc:
                self.store.finish_command(command["id"], "refused", {"message": str(exc)})
            except Exception as exc:
                self.store.finish_command(command["id"], "failed", {"message": str(exc)})
                raise
            else:
                self.store.finish_command(command["id"], "done", {"message": "ok"})
