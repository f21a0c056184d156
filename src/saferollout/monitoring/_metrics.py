"""Prometheus metrics of what the controller judges, built at scrape time.

`RolloutCollector` is a prometheus_client custom collector registered on the
gateway's registry. A scrape reads:

- the controller's snapshot (`snapshot()`: state, weights, last judgement):
  phase, step, decision, and per metric the verdict, the value each version
  was judged on, the always-valid interval and the sample sizes. No database
  query: these are the numbers the controller last decided on.
- the rollout window's per-version aggregates (requests, errors, scored
  records, every safety flag, violations by harm category, feedback), which
  the controller does not keep: read from the store with the controller's own
  query (`Store.aggregate_versions(since=started_at)`) and cached for `ttl_s`,
  so Prometheus scraping every few seconds costs at most one scan per TTL.

Window numbers are gauges, not counters: they belong to the rollout (a new
rollout starts them again) and come from the shared database, so every gateway
replica reports the same value (aggregate replicas with `max`, not `sum`).
Request-path metrics (requests, latency and TTFT histograms, tokens) are the
gateway's own counters in `gateway/_metrics.py`.

The gateway runs `generate_latest` in a worker thread, so the lock and the
queries here never stall its event loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa
from prometheus_client.metrics_core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from ..safety import HARM_CATEGORIES
from ..store import FLAG_COLUMNS, Store, StoreError, VersionAggregate
from ..store import schema as s

log = logging.getLogger("saferollout.monitoring")

PHASES: tuple[str, ...] = (
    "progressing",
    "paused",
    "promoted",
    "rolled_back",
    "aborted",
    "completed",
)
DECISIONS: tuple[str, ...] = ("advance", "hold", "pause", "rollback")
STATUSES: tuple[str, ...] = ("PASS", "INCONCLUSIVE", "NODATA", "FAIL")
# saferollout_verdict: one number per verdict, for graphs and thresholds.
VERDICT_VALUE = {"PASS": 1.0, "INCONCLUSIVE": 0.0, "NODATA": 0.0, "FAIL": -1.0}


class SnapshotSource(Protocol):
    """What the collector reads from the controller (gateway's `RolloutControl`)."""

    def snapshot(self) -> dict[str, Any]: ...


@dataclass
class WindowNumbers:
    """The rollout window's per-version numbers, as read from the store."""

    since: float
    read_at: float
    aggregates: dict[str, VersionAggregate] = field(default_factory=dict)
    violations: dict[tuple[str, str], int] = field(default_factory=dict)  # (version, category)
    feedback: dict[tuple[str, str, bool], int] = field(default_factory=dict)  # (v, kind, neg)


def read_window(store: Store, since: float, now: float) -> WindowNumbers:
    """Everything the window gauges show, in three GROUP BY queries."""
    numbers = WindowNumbers(since=since, read_at=now)
    numbers.aggregates = store.aggregate_versions(since=since)
    c = s.interactions.c
    # Violations by harm category: the pipeline writes evidence as compact JSON
    # with `violation_categories` (a list of category names) as its last key,
    # so a LIKE per category counts them in the database; parsing every
    # violating record's evidence in Python would hold the gateway's GIL.
    counts = [
        sa.func.sum(
            sa.case(
                (c.evidence_json.like(f'%"violation_categories":[%"{_like(cat)}"%', "\\"), 1),
                else_=0,
            )
        )
        for cat in HARM_CATEGORIES
    ]
    by_category = (
        sa.select(c.version, *counts)
        .where(c.created_at >= since, c.safety_violation.is_(True))
        .group_by(c.version)
    )
    f = s.feedback.c
    feedback = (
        sa.select(f.version, f.kind, f.negative, sa.func.count())
        .where(f.created_at >= since)
        .group_by(f.version, f.kind, f.negative)
    )
    with store.engine.connect() as conn:
        for row in conn.execute(by_category):
            for cat, n in zip(HARM_CATEGORIES, row[1:], strict=True):
                numbers.violations[(row[0], cat)] = int(n or 0)
        for version, kind, negative, n in conn.execute(feedback):
            numbers.feedback[(version, kind, bool(negative))] = int(n)
    return numbers


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def judged_versions(rollout: Mapping[str, Any]) -> tuple[str, str | None]:
    """(candidate, stable) of the last judgement, from the rollout state.

    The judgement does not name the versions it compared: while progressing it
    is the candidate against stable; after a promotion the controller judges the
    new stable against the old one (on standby, or no longer known).
    """
    if rollout.get("phase") == "promoted":
        return str(rollout["stable"]), rollout.get("previous_stable")
    return str(rollout["candidate"]), str(rollout["stable"])


class RolloutCollector(Collector):
    """Scrape-time metrics of one rollout: see the module docstring."""

    def __init__(
        self,
        control: SnapshotSource,
        store: Store,
        *,
        versions: Sequence[str] = (),
        ttl_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.control = control
        self.store = store
        self.versions = tuple(versions)  # shown even before they serve anything
        self.ttl_s = ttl_s
        self.clock = clock
        self._window: WindowNumbers | None = None
        self._lock = threading.Lock()

    # -- the store side, cached ----------------------------------------------------

    def window(self, since: float) -> WindowNumbers | None:
        """The cached window numbers, read again when older than the TTL or when a
        new rollout started; on a store error the last numbers stay (their age shows)."""
        with self._lock:
            now = self.clock()
            cached = self._window
            if cached is not None and cached.since == since and now - cached.read_at < self.ttl_s:
                return cached
            try:
                self._window = read_window(self.store, since, now)
            except (StoreError, SQLAlchemyError) as exc:
                log.warning("metrics: store aggregates unavailable: %s", type(exc).__name__)
                if cached is not None and cached.since != since:
                    self._window = None
            return self._window

    # -- the collector protocol ------------------------------------------------------

    def describe(self) -> list[Metric]:
        # Names only, so registering does not run a scrape (and a query).
        return _Families("").all()

    def collect(self) -> Iterator[Metric]:
        snap = self.control.snapshot()
        rollout = snap["rollout"]
        name = str(rollout["name"])
        fam = _Families(name)
        self._state(fam, rollout, len(snap.get("steps") or ()))
        if snap.get("judgement"):
            self._judgement(fam, rollout, snap["judgement"])
        window = self.window(float(rollout["started_at"]))
        if window is not None:
            self._window_numbers(fam, window)
        yield from fam.all()

    def _state(self, fam: _Families, rollout: Mapping[str, Any], steps: int) -> None:
        name = fam.rollout
        fam.info.add_metric(
            [name],
            {
                "strategy": str(rollout["strategy"]),
                "stable": str(rollout["stable"]),
                "candidate": str(rollout["candidate"]),
            },
        )
        for phase in PHASES:
            fam.phase.add_metric([name, phase], float(rollout["phase"] == phase))
        fam.step_index.add_metric([name], float(rollout["step_index"]))
        fam.steps.add_metric([name], float(steps))
        fam.started.add_metric([name], float(rollout["started_at"]))
        fam.step_started.add_metric([name], float(rollout["step_started_at"]))

    def _judgement(
        self, fam: _Families, rollout: Mapping[str, Any], judgement: Mapping[str, Any]
    ) -> None:
        name = fam.rollout
        for decision in DECISIONS:
            fam.decision.add_metric([name, decision], float(judgement["decision"] == decision))
        fam.srm.add_metric([name], float(bool(judgement.get("srm"))))
        candidate, stable = judged_versions(rollout)
        for v in judgement["verdicts"]:
            metric, status = str(v["metric"]), str(v["status"])
            labels = [name, metric, candidate]
            fam.verdict.add_metric(labels, VERDICT_VALUE.get(status, 0.0))
            for known in STATUSES:
                fam.verdict_status.add_metric([*labels, known], float(status == known))
            if v.get("interval"):
                lower, upper = v["interval"]
                fam.interval_lower.add_metric(labels, float(lower))
                fam.interval_upper.add_metric(labels, float(upper))
            if v.get("p_value") is not None:
                fam.p_value.add_metric(labels, float(v["p_value"]))
            if v.get("threshold") is not None:
                fam.threshold.add_metric(labels, float(v["threshold"]))
            sides = [("candidate", candidate)] + ([("stable", stable)] if stable else [])
            for side, version in sides:
                per_version = [name, metric, version]
                if v.get(side) is not None:
                    fam.verdict_value.add_metric(per_version, float(v[side]))
                if v.get(f"{side}_interval"):
                    lower, upper = v[f"{side}_interval"]
                    fam.value_lower.add_metric(per_version, float(lower))
                    fam.value_upper.add_metric(per_version, float(upper))
                fam.verdict_samples.add_metric(per_version, float(v.get(f"n_{side}") or 0))

    def _window_numbers(self, fam: _Families, window: WindowNumbers) -> None:
        name = fam.rollout
        fam.window_age.add_metric([name], max(self.clock() - window.read_at, 0.0))
        for version in dict.fromkeys([*self.versions, *window.aggregates]):
            agg = window.aggregates.get(version) or VersionAggregate(version)
            labels = [name, version]
            fam.requests.add_metric(labels, float(agg.requests))
            fam.shadow.add_metric(labels, float(agg.shadow))
            fam.errors.add_metric(labels, float(agg.errors))
            fam.scored.add_metric(labels, float(agg.scored))
            if agg.requests:
                fam.error_ratio.add_metric(labels, agg.errors / agg.requests)
            if agg.latency_n:
                fam.latency_mean.add_metric(labels, agg.latency_sum / agg.latency_n / 1000)
            for flag in FLAG_COLUMNS:
                n = agg.flags.get(flag, 0)
                fam.flagged.add_metric([*labels, flag], float(n))
                if agg.scored:
                    fam.flag_ratio.add_metric([*labels, flag], n / agg.scored)
            for cat in HARM_CATEGORIES:
                n = window.violations.get((version, cat), 0)
                fam.violations.add_metric([*labels, cat], float(n))
            for kind in ("explicit", "implicit"):
                for negative in (False, True):
                    n = window.feedback.get((version, kind, negative), 0)
                    fam.feedback.add_metric([*labels, kind, str(negative).lower()], float(n))


class _Families:
    """The metric families of one scrape (names, help and labels in one place)."""

    def __init__(self, rollout: str) -> None:
        self.rollout = rollout
        r = ["rollout"]
        rv = ["rollout", "version"]
        rmv = ["rollout", "metric", "version"]

        def gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, labels=labels)

        # Rollout state (controller snapshot).
        self.info = InfoMetricFamily(
            "saferollout_rollout", "The rollout: strategy, stable and candidate", labels=r
        )
        self.phase = gauge(
            "saferollout_rollout_phase", "1 for the rollout's current phase", [*r, "phase"]
        )
        self.step_index = gauge(
            "saferollout_rollout_step_index", "Current canary step, from 0 (as /admin/rollout)", r
        )
        self.steps = gauge("saferollout_rollout_steps", "Number of steps in the strategy", r)
        self.started = gauge(
            "saferollout_rollout_started_timestamp_seconds", "When the rollout started", r
        )
        self.step_started = gauge(
            "saferollout_rollout_step_started_timestamp_seconds", "When the current step began", r
        )
        # The last judgement (controller snapshot).
        self.decision = gauge(
            "saferollout_rollout_decision",
            "1 for the decision of the controller's last judgement",
            [*r, "decision"],
        )
        self.srm = gauge(
            "saferollout_rollout_srm",
            "1 when a sample ratio mismatch froze the last judgement's decisions",
            r,
        )
        self.verdict = gauge(
            "saferollout_verdict",
            "Verdict per metric on the judged version: 1 PASS, 0 INCONCLUSIVE or NODATA, -1 FAIL",
            rmv,
        )
        self.verdict_status = gauge(
            "saferollout_verdict_status",
            "1 for the verdict's status (PASS, INCONCLUSIVE, NODATA, FAIL)",
            [*rmv, "status"],
        )
        self.verdict_value = gauge(
            "saferollout_verdict_value",
            "The value each version was judged on (rates as ratios; latency_mean_ms in ms)",
            rmv,
        )
        self.value_lower = gauge(
            "saferollout_verdict_value_lower",
            "Lower end of the interval around each version's judged value",
            rmv,
        )
        self.value_upper = gauge(
            "saferollout_verdict_value_upper",
            "Upper end of the interval around each version's judged value",
            rmv,
        )
        self.threshold = gauge(
            "saferollout_verdict_threshold",
            "The trigger's hard limit on the judged version's value, where one is set",
            rmv,
        )
        self.verdict_samples = gauge(
            "saferollout_verdict_samples", "Samples behind each version's judged value", rmv
        )
        self.interval_lower = gauge(
            "saferollout_verdict_interval_lower",
            "Lower end of the always-valid interval of candidate minus stable",
            rmv,
        )
        self.interval_upper = gauge(
            "saferollout_verdict_interval_upper",
            "Upper end of the always-valid interval of candidate minus stable",
            rmv,
        )
        self.p_value = gauge(
            "saferollout_verdict_p_value",
            "Always-valid p-value of harm (multiplicity-adjusted) for the judged version",
            rmv,
        )
        # The rollout window from the store (cached).
        self.window_age = gauge(
            "saferollout_rollout_window_age_seconds",
            "Age of the cached window numbers (the store is read at most once per TTL)",
            r,
        )
        self.requests = gauge(
            "saferollout_rollout_requests",
            "Requests assigned to each version since the rollout started, "
            "retried-away and mirrored ones included (what error_rate is judged on)",
            rv,
        )
        self.shadow = gauge(
            "saferollout_rollout_shadow_requests",
            "Mirrored (shadow) requests since the rollout started",
            rv,
        )
        self.errors = gauge(
            "saferollout_rollout_errors", "Failed requests since the rollout started", rv
        )
        self.error_ratio = gauge(
            "saferollout_rollout_error_ratio", "Errors over requests since the rollout started", rv
        )
        self.scored = gauge(
            "saferollout_rollout_scored",
            "Records the safety scorers finished since the rollout started",
            rv,
        )
        self.latency_mean = gauge(
            "saferollout_rollout_latency_mean_seconds",
            "Mean request latency since the rollout started (what latency_mean_ms judges)",
            rv,
        )
        self.flagged = gauge(
            "saferollout_rollout_flagged",
            "Scored records with each safety flag (safety_violation, pii_leak, "
            "harmful_compliance, refusal, appropriate_refusal, over_refusal, "
            "guardrail_triggered, anomaly) since the rollout started",
            [*rv, "flag"],
        )
        self.flag_ratio = gauge(
            "saferollout_rollout_flag_ratio",
            "Flagged over scored records: the rates the triggers judge",
            [*rv, "flag"],
        )
        self.violations = gauge(
            "saferollout_rollout_violations",
            "Safety violations by harm category since the rollout started",
            [*rv, "category"],
        )
        self.feedback = gauge(
            "saferollout_rollout_feedback",
            "User feedback since the rollout started, by kind (explicit, implicit) "
            "and whether it was negative",
            [*rv, "kind", "negative"],
        )

    def all(self) -> list[Metric]:
        return [m for m in vars(self).values() if isinstance(m, Metric)]
