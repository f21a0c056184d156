"""What an alert is, and which rollout events become which alerts.

The controller writes every transition to the store's event log; this module
is the pure mapping from one such event to the alerts it raises (no I/O), so
the dispatcher can tail the log from any process and tests can pin the
mapping without servers.

An alert is either a *condition* (an alert-only trigger failing, a sample
ratio mismatch): firing until a later event resolves it under the same key,
or a one-shot *notice* (a rollback, a promotion, a step advanced).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

SEVERITIES = ("info", "warning", "critical")
ALERT_EVENT_KIND = "alert"  # the dispatcher's own record of what it alerted on
ALERT_FAILED_KIND = "alert_failed"  # a sink that failed after every retry


@dataclass(frozen=True)
class VersionValue:
    """One version's value of a metric with its always-valid interval."""

    version: str | None
    value: float | None
    interval: list[float] | None
    n: int


@dataclass(frozen=True)
class MetricDetail:
    name: str
    unit: str  # "%" for rates (values are fractions), "ms" for latency
    status: str | None
    reason: str
    candidate: VersionValue
    stable: VersionValue
    difference_interval: list[float] | None = None
    p_value: float | None = None
    threshold: float | None = None
    breached: bool = False

    def describe(self) -> str:
        """`metric: candidate 24% [20, 28] (n=400) vs stable 1.2% [0.5, 2.6] (n=380)`."""
        text = f"{self.name}: candidate {self._fmt(self.candidate)}"
        if self.stable.value is not None:
            text += f" vs stable {self._fmt(self.stable)}"
        if self.threshold is not None:
            text += f", limit {_number(self.threshold, self.unit)}"
        return text

    def _fmt(self, v: VersionValue) -> str:
        if v.value is None:
            return "no data"
        text = _number(v.value, self.unit)
        if v.interval is not None:
            lo, hi = (_number(x, self.unit, with_unit=False) for x in v.interval)
            text += f" [{lo}, {hi}]"
        return text + f" (n={v.n})"


def _number(x: float, unit: str, *, with_unit: bool = True) -> str:
    if unit == "%":
        return f"{x * 100:.3g}" + ("%" if with_unit else "")
    return f"{x:.4g}" + (" ms" if with_unit else "")


@dataclass(frozen=True)
class Alert:
    rollout: str
    kind: str
    severity: str
    status: str  # firing | resolved
    summary: str
    description: str
    key: str  # the same condition or notice has the same key (deduplication)
    condition: bool  # stays firing until resolved (else a one-shot notice)
    time: float  # when the event happened (epoch seconds)
    event_id: int
    actor: str
    stable: str | None = None
    candidate: str | None = None
    phase: str | None = None
    step: int | None = None
    weights: dict[str, float] = field(default_factory=dict)
    metric: MetricDetail | None = None  # the one this alert is about, if one
    metrics: list[MetricDetail] = field(default_factory=list)  # all it carries
    dashboard_url: str | None = None
    reminder: bool = False  # re-sent because the condition still fires

    @property
    def labels(self) -> dict[str, str]:
        """Identity for Alertmanager: the same labels on firing and resolved."""
        out = {
            "alertname": "Saferollout" + "".join(p.title() for p in self.kind.split("_")),
            "rollout": self.rollout,
            "severity": self.severity,
            "kind": self.kind,
        }
        if self.candidate:
            out["version"] = self.candidate
        if self.metric is not None:
            out["metric"] = self.metric.name
        return out

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["time_iso"] = iso(self.time)
        return out


def iso(t: float) -> str:
    """RFC 3339 in UTC, as Alertmanager and most receivers parse it."""
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def _metric_detail(v: dict[str, Any], stable: str | None, candidate: str | None) -> MetricDetail:
    name = str(v.get("metric", "?"))
    unit = "ms" if name.endswith("_ms") else "%"
    return MetricDetail(
        name=name,
        unit=unit,
        status=v.get("status"),
        reason=str(v.get("reason", "")),
        candidate=VersionValue(
            candidate, v.get("candidate"), v.get("candidate_interval"), v.get("n_candidate", 0)
        ),
        stable=VersionValue(
            stable, v.get("stable"), v.get("stable_interval"), v.get("n_stable", 0)
        ),
        difference_interval=v.get("interval"),
        p_value=v.get("p_value"),
        threshold=v.get("threshold"),
        breached=bool(v.get("breached", False)),
    )


def _failing(verdicts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in verdicts if v.get("status") == "FAIL" and not v.get("dry_run")]


def _with_data(verdicts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in verdicts if v.get("candidate") is not None]


def alerts_from_event(event: dict[str, Any], *, dashboard_url: str | None = None) -> list[Alert]:
    """The alerts one event raises (none for events that are not alert-worthy)."""
    kind = event["kind"]
    data: dict[str, Any] = event.get("data") or {}
    rollout = event["rollout"]
    stable, candidate = data.get("stable"), data.get("candidate")
    verdicts: list[dict[str, Any]] = (data.get("judgement") or {}).get("verdicts") or []
    base = {
        "rollout": rollout,
        "time": float(event["created_at"]),
        "event_id": int(event["id"]),
        "actor": str(event.get("actor", "")),
        "stable": stable,
        "candidate": candidate,
        "phase": data.get("phase"),
        "step": data.get("step"),
        "weights": dict(data.get("weights") or {}),
        "dashboard_url": dashboard_url,
        "description": str(event.get("message", "")),
    }
    message = base["description"]

    def details(vs: list[dict[str, Any]]) -> list[MetricDetail]:
        return [_metric_detail(v, stable, candidate) for v in vs]

    def make(
        alert_kind: str,
        severity: str,
        summary: str,
        *,
        metrics: list[MetricDetail] | None = None,
        about_metric: bool = False,
        condition: bool = False,
        status: str = "firing",
        key_extra: str = "",
    ) -> Alert:
        """`about_metric`: the alert is about its first metric (in the key and the
        labels); the summary then spells out every metric it carries. Notices
        (promotion, step) carry all metrics but name none in the summary."""
        metrics = metrics or []
        primary = metrics[0] if about_metric and metrics else None
        parts = [rollout, alert_kind, candidate or "", primary.name if primary else ""]
        key = "/".join(str(p) for p in parts) + (f"/{key_extra}" if key_extra else "")
        metrics_text = "; ".join(m.describe() for m in metrics) if primary else ""
        full = f"[{rollout}] {summary}" + (f" ({metrics_text})" if metrics_text else "")
        return Alert(
            kind=alert_kind,
            severity=severity,
            status=status,
            summary=full,
            key=key,
            condition=condition,
            metric=primary,
            metrics=metrics,
            **base,
        )

    def hard_limits(vs: list[dict[str, Any]]) -> list[Alert]:
        return [
            make(
                "hard_limit_breached",
                "critical",
                f"{candidate}: {v.get('metric')} breached its hard limit",
                metrics=details([v]),
                about_metric=True,
            )
            for v in vs
            if v.get("breached")
        ]

    if kind in ("trigger_alert", "trigger_resolved"):
        metric = str(data.get("metric", "?"))
        if data.get("post_promotion"):
            alert_kind, what = "drift", f"{candidate} drifts from the baseline after promotion"
        elif metric == "anomaly_rate":
            alert_kind, what = "anomaly_spike", f"anomaly spike on {candidate}"
        else:
            alert_kind, what = "trigger_fired", f"trigger {metric} fires on {candidate}"
        detail = details([data.get("verdict") or {"metric": metric}])
        if kind == "trigger_resolved":
            done = f"resolved: {metric} no longer fails on {candidate}"
            return [
                make(
                    alert_kind,
                    "warning",
                    done,
                    metrics=detail,
                    about_metric=True,
                    condition=True,
                    status="resolved",
                )
            ]
        return [
            make(alert_kind, "warning", what, metrics=detail, about_metric=True, condition=True),
            *hard_limits([data.get("verdict") or {}]),
        ]
    if kind in ("srm_detected", "srm_resolved"):
        srm = data.get("srm") or {}
        shares = srm.get("observed_shares")
        extra = f"; observed shares {shares}" if shares else ""
        if kind == "srm_resolved":
            done = "resolved: sample ratio mismatch cleared"
            return [make("srm", "warning", done, condition=True, status="resolved")]
        text = f"sample ratio mismatch on {candidate}: decisions frozen{extra}"
        return [make("srm", "warning", text, condition=True)]
    if kind == "rolled_back":
        failing = _failing(verdicts)
        after = " after promotion (drift from the baseline)" if data.get("post_promotion") else ""
        by = "" if event.get("actor") == "controller" else f" by {event.get('actor')}"
        summary = f"{candidate} rolled back to {stable}{after}{by}"
        shown = details(failing or _with_data(verdicts))
        return [
            make("rollback", "critical", summary, metrics=shown, about_metric=bool(failing)),
            *hard_limits(failing),
        ]
    if kind == "paused":
        failing = _failing(verdicts)
        severity = "warning" if event.get("actor") == "controller" else "info"
        summary = f"rollout of {candidate} paused: {message}"
        return [
            make("paused", severity, summary, metrics=details(failing), about_metric=True),
            *hard_limits(failing),
        ]
    if kind == "aborted":
        return [make("aborted", "warning", f"rollout of {candidate} aborted: {message}")]
    if kind == "arm_stopped":
        digest = hashlib.blake2b(message.encode(), digest_size=6).hexdigest()
        return [make("arm_stopped", "warning", message, key_extra=digest)]
    if kind == "step_advanced":
        return [
            make(
                "step_advanced",
                "info",
                message,
                metrics=details(_with_data(verdicts)),
                key_extra=f"step{data.get('step')}",
            )
        ]
    if kind == "promoted":
        summary = f"{candidate} promoted to stable"
        return [make("promoted", "info", summary, metrics=details(_with_data(verdicts)))]
    if kind == "completed":
        return [make("completed", "info", message)]
    if kind == "rollout_started":
        return [make("rollout_started", "info", f"rollout of {candidate} started")]
    if kind == "preflight_forced":
        version = candidate or data.get("version")
        return [
            make("preflight_forced", "warning", f"{version} started without preflight: {message}")
        ]
    return []
