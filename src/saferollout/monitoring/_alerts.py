"""The alert dispatcher: tails the event log and sends alerts to the sinks.

Why tail the store's `events` table instead of a callback from the
controller: the controller only ever writes an event, so a failing or
hanging sink cannot delay a rollback, and alerts work the same when the
controller runs in another process or replica.

Why an asyncio loop on a thread of its own (with aiohttp): every sink needs
a total timeout per attempt (urllib's socket timeout bounds each read, not
the whole call, so a slow-dripping receiver could hold it far longer), and
one task per sink keeps a hanging sink from holding up the others without a
thread per sink. Store reads and writes go through `asyncio.to_thread`.

Where it resumes (restart semantics): for every event that raised alerts the
dispatcher appends an `alert` event (actor `alerts`) recording the source
event id, what it raised and which sinks took it. On start, and when this
process becomes the leader, it resumes after the last recorded source event,
but only replays events younger than `alerts.replay_window_s`: an alert
missed in a crash or a leader change is still sent; old history is not.
A sink that fails after every retry gets an `alert_failed` event. The
dispatcher skips its own kinds, so its records never feed back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import aiohttp
import orjson
import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter

from ..config import AlertsConfig
from ..store import Store
from ..store import schema as s
from ._alert_model import ALERT_EVENT_KIND, ALERT_FAILED_KIND, Alert, alerts_from_event
from ._alert_sinks import Delivery, SinkChannel, SinkTarget, resolve_sink

log = logging.getLogger("saferollout.alerts")
ACTOR = "alerts"
_BATCH = 200


def default_dashboard_url(host: str, port: int) -> str:
    """This server's own dashboard, as a link that works off this machine too."""
    if host in ("0.0.0.0", "::", ""):
        host = socket.getfqdn()
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/dashboard"


class AlertMetrics:
    """saferollout_alerts_sent_total{sink,kind,outcome}: every alert's fate per sink
    (sent, failed, filtered, duplicate, rate_limited, dropped)."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.sent = Counter(
            "saferollout_alerts_sent",
            "Alerts per sink, kind and outcome (sent, failed, duplicate, rate_limited, ...)",
            ["sink", "kind", "outcome"],
            registry=registry if registry is not None else CollectorRegistry(),
        )

    def count(self, sink: str, alert: Alert, outcome: str) -> None:
        self.sent.labels(sink, alert.kind, outcome).inc()


class AlertDispatcher:
    def __init__(
        self,
        config: AlertsConfig,
        store: Store,
        rollout: str,
        *,
        dashboard_url: str | None = None,
        registry: CollectorRegistry | None = None,
        leading: Callable[[], bool] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Resolves every sink's URL and headers now: raises AlertsError if one
        names an environment variable that is not set."""
        self.config = config
        self.store = store
        self.rollout = rollout
        self.dashboard_url = config.dashboard_url or dashboard_url
        self.leading = leading or (lambda: True)
        targets = [resolve_sink(sink, i, env) for i, sink in enumerate(config.sinks)]
        self.metrics = AlertMetrics(registry)
        self.channels = [
            SinkChannel(
                t,
                repeat_interval_s=config.repeat_interval_s,
                retry=config.retry,
                queue_max=config.queue_max,
                on_outcome=self._count,
                on_failed=self._record_failure,
            )
            for t in targets
        ]
        self.cursor: int | None = None  # last event id looked at; None until we lead
        self._skip_before = 0.0
        self.active: dict[str, Alert] = {}  # firing conditions by key (for reminders)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._stop_deadline: float | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alerts", daemon=True)

    # -- life cycle (called from other threads) ------------------------------------

    def start(self) -> AlertDispatcher:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Read the log once more, give queued alerts up to `timeout` to go out, stop."""
        if self._loop is None or not self._thread.is_alive():
            return
        self._stop_deadline = time.monotonic() + timeout
        stopping = self._stopping
        assert stopping is not None
        self._loop.call_soon_threadsafe(stopping.set)
        self._thread.join(timeout + 5)

    # -- the loop (the dispatcher's thread) -----------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        self._ready.set()
        async with aiohttp.ClientSession() as session:
            workers = [
                asyncio.create_task(c.run(session, lambda: self._stop_deadline), name=c.name)
                for c in self.channels
            ]
            while not self._stopping.is_set():
                await self._poll_safely()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.config.poll_interval_s)
            await self._poll_safely(final=True)  # what happened just before the stop
            deadline = self._stop_deadline or time.monotonic()
            while any(not c.idle for c in self.channels) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        pending = sum(c.pending for c in self.channels)
        if pending:
            log.warning("alerts stopped with %d alert(s) not delivered", pending)

    async def _poll_safely(self, *, final: bool = False) -> None:
        try:
            await self.poll(final=final)
        except Exception:  # the database away: try again next interval
            log.exception("reading the event log for alerts failed; retrying")

    async def poll(self, *, final: bool = False) -> int:
        """Dispatch the events written since the last poll; returns how many alerts.

        `final` (stopping): a dispatcher that led until now still sends what its
        controller wrote last, though the lease was just released."""
        if not self.leading() and not (final and self.cursor is not None):
            self.cursor = None  # resume from the store's record when we lead again
            return 0
        if self.cursor is None:
            self.cursor, self._skip_before = await asyncio.to_thread(self._resume_point)
        raised = 0
        while True:
            events = await asyncio.to_thread(
                self.store.list_events, self.rollout, after_id=self.cursor, limit=_BATCH
            )
            for event in events:
                raised += await self._dispatch_event(event)
                self.cursor = event["id"]
            if len(events) < _BATCH:
                break
        self._remind()
        return raised

    async def _dispatch_event(self, event: dict[str, Any]) -> int:
        if event["kind"] in (ALERT_EVENT_KIND, ALERT_FAILED_KIND):
            return 0
        if event["created_at"] < self._skip_before:
            return 0
        alerts = alerts_from_event(event, dashboard_url=self.dashboard_url)
        if not alerts:
            return 0
        record = []
        for alert in alerts:
            if alert.condition:
                if alert.status == "firing":
                    self.active[alert.key] = alert
                else:
                    self.active.pop(alert.key, None)
            taken = []
            for channel in self.channels:
                outcome = channel.offer(alert)
                if outcome == "queued":
                    taken.append(channel.name)
                else:
                    self._count(channel.name, alert, outcome)
            record.append(
                {
                    "kind": alert.kind,
                    "severity": alert.severity,
                    "status": alert.status,
                    "key": alert.key,
                    "summary": alert.summary,
                    "sinks": taken,
                }
            )
        await asyncio.to_thread(
            self.store.append_event,
            self.rollout,
            ALERT_EVENT_KIND,
            "; ".join(a.summary for a in alerts),
            actor=ACTOR,
            data={"source_event_id": event["id"], "source_kind": event["kind"], "alerts": record},
        )
        return len(alerts)

    def _remind(self) -> None:
        """Re-send conditions still firing after the repeat interval (to each sink
        that had them), so Alertmanager keeps them active and people are reminded."""
        for alert in self.active.values():
            for channel in self.channels:
                if channel.due_reminder(alert.key):
                    channel.offer(replace(alert, reminder=True))

    def _resume_point(self) -> tuple[int, float]:
        """(cursor, skip events older than): after the last event a dispatcher
        recorded, within the replay window (see the module docstring)."""
        e = s.events.c
        skip_before = time.time() - self.config.replay_window_s
        mine = e.rollout == self.rollout
        with self.store.engine.connect() as conn:
            # The newest id first: an event appended between these reads is then
            # either recent (found below) or after `newest`; none falls in between.
            newest = conn.execute(sa.select(sa.func.max(e.id)).where(mine)).scalar_one_or_none()
            first_recent = conn.execute(
                sa.select(sa.func.min(e.id)).where(mine, e.created_at >= skip_before)
            ).scalar_one_or_none()
            last = conn.execute(
                sa.select(e.data_json)
                .where(mine, e.kind == ALERT_EVENT_KIND)
                .order_by(e.id.desc())
                .limit(1)
            ).scalar_one_or_none()
        done = 0 if last is None else int(orjson.loads(last).get("source_event_id", 0))
        # Nothing recent: start after the newest event.
        start = int(newest or 0) if first_recent is None else int(first_recent) - 1
        return max(done, start), skip_before

    # -- outcomes ---------------------------------------------------------------------

    def _count(self, sink: str, alert: Alert, outcome: str) -> None:
        self.metrics.count(sink, alert, outcome)

    async def _record_failure(self, target: SinkTarget, alert: Alert, delivery: Delivery) -> None:
        message = (
            f"alert {alert.kind} ({alert.status}) to sink {target.name} failed after "
            f"{delivery.attempts} attempt(s): {delivery.error}"
        )
        try:
            await asyncio.to_thread(
                self.store.append_event,
                self.rollout,
                ALERT_FAILED_KIND,
                message,
                actor=ACTOR,
                data={
                    "sink": target.name,
                    "kind": alert.kind,
                    "status": alert.status,
                    "key": alert.key,
                    "attempts": delivery.attempts,
                    "error": delivery.error,
                    "source_event_id": alert.event_id,
                },
            )
        except Exception:
            log.exception("could not record a failed alert delivery")
