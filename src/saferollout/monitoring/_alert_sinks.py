"""One alert sink: filter, deduplicate, rate-limit, then deliver with retries.

`SinkChannel.offer` decides synchronously (no I/O) whether an alert is queued
for the sink; `SinkChannel.run` is the sink's own asyncio task that sends the
queue in order, each attempt bounded by a total timeout, failures retried
with bounded exponential backoff. One task per sink, so a sink that fails or
hangs delays only its own queue, never another sink or the controller (which
only writes events; the dispatcher reads them).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import aiohttp
import orjson

from ..config import AlertRetryConfig, AlertSinkConfig
from ._alert_formats import FORMATS, endpoint
from ._alert_model import SEVERITIES, Alert

log = logging.getLogger("saferollout.alerts")

RATE_WINDOW_S = 60.0
_RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}


class AlertsError(ValueError):
    """Alerts cannot start as configured (e.g. a named environment variable is unset)."""


@dataclass(frozen=True)
class SinkTarget:
    """A sink with its secrets resolved from the environment. `url` is never logged."""

    config: AlertSinkConfig
    url: str
    headers: dict[str, str]

    @property
    def name(self) -> str:
        return self.config.name


def resolve_sink(
    sink: AlertSinkConfig, index: int, env: Mapping[str, str] | None = None
) -> SinkTarget:
    """Read the URL and secret headers a sink names; raise AlertsError naming the key."""
    env = os.environ if env is None else env
    where = f"alerts.sinks[{index}] ({sink.name})"
    url = sink.url
    if sink.url_env is not None:
        url = env.get(sink.url_env)
        if not url:
            raise AlertsError(f"{where}.url_env: environment variable {sink.url_env} is not set")
        if not url.startswith(("http://", "https://")):
            raise AlertsError(f"{where}.url_env: {sink.url_env} does not hold an http(s) URL")
    headers = {"Content-Type": "application/json", **sink.headers}
    for header, var in sink.headers_env.items():
        value = env.get(var)
        if not value:
            raise AlertsError(
                f"{where}.headers_env.{header}: environment variable {var} is not set"
            )
        headers[header] = value
    assert url is not None  # the config model requires url or url_env
    return SinkTarget(sink, endpoint(sink.type, url), headers)


@dataclass
class Delivery:
    """How one alert ended at one sink."""

    outcome: str  # sent | failed
    attempts: int
    error: str | None = None


class SinkChannel:
    def __init__(
        self,
        target: SinkTarget,
        *,
        repeat_interval_s: float,
        retry: AlertRetryConfig,
        queue_max: int,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        on_outcome: Callable[[str, Alert, str], None] | None = None,
        on_failed: Callable[[SinkTarget, Alert, Delivery], Awaitable[None]] | None = None,
    ) -> None:
        self.target = target
        self.config = target.config
        self.repeat_interval_s = repeat_interval_s
        self.retry = retry
        self.queue_max = queue_max
        self.clock = clock
        self.wall = wall
        self.on_outcome = on_outcome
        self.on_failed = on_failed
        self._queue: deque[Alert] = deque()
        self._wakeup: asyncio.Event | None = None
        self._last: dict[str, tuple[str, float]] = {}  # key -> (status sent, when)
        self._recent: deque[float] = deque()  # queue times within the rate window
        self.in_flight = False

    @property
    def name(self) -> str:
        return self.target.name

    # -- decisions (synchronous, no I/O) -------------------------------------------

    def accepts(self, alert: Alert) -> bool:
        """The sink's filter: kinds and minimum severity."""
        c = self.config
        if c.kinds is not None and alert.kind not in c.kinds:
            return False
        return SEVERITIES.index(alert.severity) >= SEVERITIES.index(c.min_severity)

    def offer(self, alert: Alert) -> str:
        """Queue the alert or say why not: queued | filtered | duplicate | rate_limited | dropped.

        Deduplicated by key: a firing alert already sent within the repeat interval
        is a duplicate; a resolved one is sent only if its firing one was. Rate
        limit: at most `max_per_minute` queued in any 60 s, except critical alerts
        and resolutions, which are never dropped for rate.
        """
        if not self.accepts(alert):
            return "filtered"
        now = self.clock()
        last = self._last.get(alert.key)
        if alert.status == "resolved":
            if last is None or last[0] != "firing":
                return "duplicate"
        elif last is not None and last[0] == "firing" and now - last[1] < self.repeat_interval_s:
            return "duplicate"
        while self._recent and now - self._recent[0] >= RATE_WINDOW_S:
            self._recent.popleft()
        limited = alert.status == "firing" and alert.severity != "critical"
        if limited and len(self._recent) >= self.config.max_per_minute:
            return "rate_limited"
        if len(self._queue) >= self.queue_max:
            return "dropped"
        self._recent.append(now)
        self._last[alert.key] = (alert.status, now)
        self._queue.append(alert)
        if self._wakeup is not None:
            self._wakeup.set()
        return "queued"

    def due_reminder(self, key: str) -> bool:
        """A firing condition sent here longer ago than the repeat interval."""
        last = self._last.get(key)
        return (
            last is not None
            and last[0] == "firing"
            and (self.clock() - last[1] >= self.repeat_interval_s)
        )

    @property
    def idle(self) -> bool:
        return not self._queue and not self.in_flight

    @property
    def pending(self) -> int:
        return len(self._queue)

    # -- delivery (the sink's task) ------------------------------------------------

    async def run(
        self, session: aiohttp.ClientSession, deadline: Callable[[], float | None]
    ) -> None:
        """Send queued alerts in order until cancelled. `deadline()` is a monotonic
        time after which no retry is started (set while stopping)."""
        self._wakeup = asyncio.Event()
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            alert = self._queue[0]
            self.in_flight = True
            try:
                delivery = await self.deliver(session, alert, deadline)
            finally:
                self._queue.popleft()
                self.in_flight = False
            if self.on_outcome is not None:
                self.on_outcome(self.name, alert, delivery.outcome)
            if delivery.outcome == "failed":
                log.warning(
                    "alert %s to sink %s failed after %d attempt(s): %s",
                    alert.kind,
                    self.name,
                    delivery.attempts,
                    delivery.error,
                )
                if self.on_failed is not None:
                    await self.on_failed(self.target, alert, delivery)
            else:
                log.info("alert %s (%s) sent to sink %s", alert.kind, alert.status, self.name)

    async def deliver(
        self,
        session: aiohttp.ClientSession,
        alert: Alert,
        deadline: Callable[[], float | None] = lambda: None,
    ) -> Delivery:
        """POST the alert, retrying what may pass later; never raises."""
        body = orjson.dumps(
            FORMATS[self.config.type](alert, now=self.wall(), expires_s=3 * self.repeat_interval_s)
        )
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
        error = None
        for attempt in range(1, self.retry.max_attempts + 1):
            retry_after: float | None = None
            try:
                async with session.post(
                    self.target.url, data=body, headers=self.target.headers, timeout=timeout
                ) as resp:
                    await resp.read()
                    if resp.status < 300:
                        return Delivery("sent", attempt)
                    error = f"HTTP {resp.status}"
                    if resp.status not in _RETRYABLE_STATUS:
                        return Delivery("failed", attempt, error + " (not retried)")
                    retry_after = _retry_after(resp.headers.get("Retry-After"))
            except TimeoutError:
                error = f"timed out after {self.config.timeout_s:g}s"
            except aiohttp.ClientError as exc:
                # The type only: an aiohttp message can carry the URL, and a
                # Slack webhook URL is a credential.
                error = type(exc).__name__
            if attempt == self.retry.max_attempts:
                break
            wait = self.backoff_s(attempt)
            if retry_after is not None:
                wait = min(max(wait, retry_after), self.retry.max_backoff_s)
            stop_at = deadline()
            if stop_at is not None and time.monotonic() + wait > stop_at:
                return Delivery("failed", attempt, f"{error}; stopping")
            await asyncio.sleep(wait)
        return Delivery("failed", self.retry.max_attempts, error)

    def backoff_s(self, attempt: int) -> float:
        """Wait after failed attempt n: initial x multiplier^(n-1), capped, +-20% jitter."""
        r = self.retry
        base = min(r.initial_backoff_s * r.multiplier ** (attempt - 1), r.max_backoff_s)
        return base * random.uniform(0.8, 1.2)


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff
