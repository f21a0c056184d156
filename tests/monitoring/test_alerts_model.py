"""Alerts without servers: event -> alert mapping, dedup and rate limit decisions,
payload formats, and config errors through the real loader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from saferollout.config import AlertRetryConfig, AlertSinkConfig, ConfigError, parse_config
from saferollout.monitoring import AlertsError, alerts_from_event
from saferollout.monitoring._alert_formats import (
    alertmanager_payload,
    endpoint,
    slack_payload,
    webhook_payload,
)
from saferollout.monitoring._alert_sinks import SinkChannel, resolve_sink
from saferollout.rollout import Controller, Decision, Judgement, MetricVerdict, Status
from saferollout.store import Store

VERDICT = {
    "metric": "harmful_compliance_rate",
    "status": "FAIL",
    "action": "rollback",
    "candidate": 0.24,
    "stable": 0.012,
    "interval": [0.19, 0.26],
    "p_value": 1e-6,
    "n_candidate": 400,
    "n_stable": 380,
    "critical": True,
    "dry_run": False,
    "reason": "harm detected against stable (critical)",
    "candidate_interval": [0.20, 0.28],
    "stable_interval": [0.005, 0.026],
    "threshold": None,
    "breached": False,
}


def event(kind: str, data: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    base = {"phase": "progressing", "step": 0, "weights": {"cand": 10.0}}
    base.update({"stable": "stab", "candidate": "cand"})
    return {
        "id": kw.get("id", 7),
        "created_at": 1_700_000_000.0,
        "rollout": "r1",
        "kind": kind,
        "actor": kw.get("actor", "controller"),
        "message": kw.get("message", "something happened"),
        "data": {**base, **(data or {})},
    }


def test_rollback_alert_carries_the_metric_with_both_versions_and_intervals() -> None:
    ev = event("rolled_back", {"phase": "rolled_back", "judgement": {"verdicts": [VERDICT]}})
    [alert] = alerts_from_event(ev, dashboard_url="http://h:1/dashboard")
    assert (alert.kind, alert.severity, alert.status) == ("rollback", "critical", "firing")
    assert alert.metric is not None and alert.metric.name == "harmful_compliance_rate"
    assert alert.metric.candidate.version == "cand" and alert.metric.candidate.value == 0.24
    assert alert.metric.candidate.interval == [0.20, 0.28]
    assert alert.metric.stable.version == "stab" and alert.metric.stable.interval == [0.005, 0.026]
    assert "candidate 24% [20, 28] (n=400) vs stable 1.2% [0.5, 2.6] (n=380)" in alert.summary
    assert alert.dashboard_url == "http://h:1/dashboard" and alert.phase == "rolled_back"


def test_a_hard_limit_breach_raises_its_own_critical_alert() -> None:
    breached = {**VERDICT, "threshold": 0.05, "breached": True}
    ev = event("rolled_back", {"judgement": {"verdicts": [breached]}})
    kinds = [(a.kind, a.severity) for a in alerts_from_event(ev)]
    assert kinds == [("rollback", "critical"), ("hard_limit_breached", "critical")]
    assert "limit 5%" in alerts_from_event(ev)[1].summary


@pytest.mark.parametrize(
    ("metric", "extra", "kind"),
    [
        ("latency_mean_ms", {}, "trigger_fired"),
        ("anomaly_rate", {}, "anomaly_spike"),
        ("error_rate", {"post_promotion": True}, "drift"),
    ],
)
def test_trigger_alert_and_resolved_share_one_key(
    metric: str, extra: dict[str, Any], kind: str
) -> None:
    verdict = {**VERDICT, "metric": metric, "action": "alert"}
    data = {"metric": metric, "verdict": verdict, **extra}
    [fired] = alerts_from_event(event("trigger_alert", data))
    passing = {**data, "verdict": {**verdict, "status": "PASS"}}
    [resolved] = alerts_from_event(event("trigger_resolved", passing))
    assert fired.kind == resolved.kind == kind
    assert fired.condition and (fired.status, resolved.status) == ("firing", "resolved")
    assert fired.key == resolved.key and fired.labels == resolved.labels
    assert fired.labels["metric"] == metric and fired.labels["version"] == "cand"


def test_srm_is_a_condition_and_bookkeeping_events_raise_nothing() -> None:
    [srm] = alerts_from_event(event("srm_detected", {"srm": {"observed_shares": [0.7, 0.3]}}))
    [done] = alerts_from_event(event("srm_resolved", {"srm": None}))
    assert srm.kind == "srm" and srm.key == done.key and done.status == "resolved"
    for kind in ("step_holding", "resumed", "standby_released", "alert", "alert_failed"):
        assert alerts_from_event(event(kind)) == []


def test_step_advanced_keys_differ_per_step_and_operator_pause_is_info() -> None:
    a = alerts_from_event(event("step_advanced", {"step": 1}))[0]
    b = alerts_from_event(event("step_advanced", {"step": 2}))[0]
    assert a.key != b.key and a.severity == "info"
    assert alerts_from_event(event("paused", actor="admin:ops"))[0].severity == "info"
    assert alerts_from_event(event("paused"))[0].severity == "warning"


# -- dedup and rate limit (decisions only, a fake clock) -------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def channel(clock: Clock, **sink: Any) -> SinkChannel:
    cfg = AlertSinkConfig(name="s", type="webhook", url="http://127.0.0.1:9/x", **sink)
    return SinkChannel(
        resolve_sink(cfg, 0, env={}),
        repeat_interval_s=60,
        retry=AlertRetryConfig(),
        queue_max=100,
        clock=clock,
    )


def test_same_key_within_the_repeat_interval_is_sent_once() -> None:
    clock = Clock()
    ch = channel(clock)
    verdict = {**VERDICT, "metric": "anomaly_rate", "action": "alert"}
    data = {"metric": "anomaly_rate", "verdict": verdict}
    [fired] = alerts_from_event(event("trigger_alert", data))
    [resolved] = alerts_from_event(event("trigger_resolved", data))
    assert ch.offer(resolved) == "duplicate"  # nothing fired yet: nothing to resolve
    assert ch.offer(fired) == "queued"
    clock.now += 30
    assert ch.offer(fired) == "duplicate"
    assert not ch.due_reminder(fired.key)
    clock.now += 31
    assert ch.due_reminder(fired.key)  # still firing after the repeat interval
    assert ch.offer(fired) == "queued"
    assert ch.offer(resolved) == "queued"
    assert ch.offer(resolved) == "duplicate"
    assert ch.offer(fired) == "queued"  # fires again after it resolved: news, not a repeat
    assert ch.pending == 4


def test_rate_limit_per_sink_spares_critical_alerts() -> None:
    clock = Clock()
    ch = channel(clock, max_per_minute=3)
    steps = [alerts_from_event(event("step_advanced", {"step": i}))[0] for i in range(5)]
    assert [ch.offer(a) for a in steps] == ["queued"] * 3 + ["rate_limited"] * 2
    rollback = alerts_from_event(event("rolled_back"))[0]
    assert ch.offer(rollback) == "queued"  # critical: never dropped for rate
    clock.now += 60
    assert ch.offer(steps[3]) == "queued"  # the window moved on


def test_sink_filter_by_kind_and_severity() -> None:
    clock = Clock()
    ch = channel(clock, kinds=["rollback", "step_advanced"], min_severity="warning")
    assert ch.offer(alerts_from_event(event("rolled_back"))[0]) == "queued"
    assert ch.offer(alerts_from_event(event("step_advanced"))[0]) == "filtered"  # info
    assert ch.offer(alerts_from_event(event("aborted"))[0]) == "filtered"  # kind


# -- formats ---------------------------------------------------------------------------


def test_formats() -> None:
    ev = event("rolled_back", {"judgement": {"verdicts": [VERDICT]}}, message="a <b> & c")
    [alert] = alerts_from_event(ev, dashboard_url="http://h:1/dashboard")
    hook = webhook_payload(alert, now=1_700_000_005.0, expires_s=60)
    assert hook["schema"] == "saferollout.alert/v1" and hook["metric"]["candidate"]["n"] == 400
    assert hook["time_iso"] == "2023-11-14T22:13:20Z"
    slack = slack_payload(alert, now=0, expires_s=60)
    assert "&lt;b&gt; &amp; c" in str(slack["blocks"])  # Slack control characters escaped
    assert slack["blocks"][-1]["elements"][0]["url"] == "http://h:1/dashboard"
    [am] = alertmanager_payload(alert, now=1_700_000_005.0, expires_s=60)
    assert am["labels"] == {
        "alertname": "SaferolloutRollback",
        "rollout": "r1",
        "severity": "critical",
        "kind": "rollback",
        "version": "cand",
        "metric": "harmful_compliance_rate",
    }
    assert am["startsAt"] == "2023-11-14T22:13:20Z" and am["endsAt"] == "2023-11-14T22:14:25Z"
    assert am["annotations"]["dashboard"] == am["generatorURL"] == "http://h:1/dashboard"
    assert endpoint("alertmanager", "http://am:9093") == "http://am:9093/api/v2/alerts"


# -- config ----------------------------------------------------------------------------

BASE = """\
versions:
  a: {url: "http://127.0.0.1:1/v1", model: m}
  b: {url: "http://127.0.0.1:2/v1", model: n}
stable: a
candidate: b
"""


def issues(text: str) -> list[tuple[str, int | None, str]]:
    with pytest.raises(ConfigError) as info:
        parse_config(BASE + text, env={})
    return [(i.path, i.line, i.message) for i in info.value.issues]


def test_bad_sinks_are_config_errors_with_path_and_line() -> None:
    got = issues(
        "alerts:\n"  # line 6
        "  sinks:\n"
        "    - {name: a, type: pagerduty, url: 'http://x:1'}\n"  # 8
        "    - {name: b, type: slack, url: 'ftp://x'}\n"  # 9
        "    - {name: c, type: webhook}\n"  # 10
        "  repeat_every: 5\n"  # 11
    )
    assert got[0][:2] == ("alerts.sinks[0].type", 8) and "'webhook'" in got[0][2]
    assert got[1] == ("alerts.sinks[1].url", 9, "must be an http:// or https:// URL with a host")
    assert got[2] == ("alerts.sinks[2]", 10, "give exactly one of `url` or `url_env`")
    assert got[3] == ("alerts.repeat_every", 11, "unknown key")


def test_duplicate_sink_names_and_bad_header_env() -> None:
    got = issues(
        "alerts:\n  sinks:\n"
        "    - {name: a, type: webhook, url: 'http://x:1'}\n"
        "    - {name: a, type: webhook, url: 'http://x:1', headers_env: {X-Key: 'not a var'}}\n"
    )
    assert got[0][:2] == ("alerts.sinks[1]", 9) and "not an environment variable" in got[0][2]


def test_secrets_come_from_the_environment_when_the_sink_starts() -> None:
    cfg = AlertSinkConfig(
        name="s", type="slack", url_env="HOOK", headers_env={"Authorization": "TOKEN"}
    )
    with pytest.raises(AlertsError, match=r"alerts.sinks\[2\] \(s\).url_env: .*HOOK is not set"):
        resolve_sink(cfg, 2, env={})
    with pytest.raises(AlertsError, match=r"headers_env\.Authorization: .*TOKEN is not set"):
        resolve_sink(cfg, 2, env={"HOOK": "https://hooks.example/T/B/secret"})
    target = resolve_sink(cfg, 2, env={"HOOK": "https://hooks.example/T/B/x", "TOKEN": "Bearer t"})
    assert target.url == "https://hooks.example/T/B/x"
    assert target.headers["Authorization"] == "Bearer t"
    # The validated model (hashed, maybe shown) holds only the names.
    assert "Bearer" not in cfg.model_dump_json() and "hooks.example" not in cfg.model_dump_json()


# -- the controller's event payloads feed the mapping -----------------------------------


def test_controller_events_for_srm_and_alert_triggers_map_to_conditions(tmp_path: Path) -> None:
    cfg = parse_config(
        BASE + "name: r1\nstrategy: {type: canary, steps: [{weight: 10, pause: {}}]}\n", env={}
    )
    state: dict[str, Any] = {"srm": False, "verdicts": []}

    def judge(_aggregates: Any, **_kw: Any) -> Judgement:
        detail = {"observed_shares": [0.7, 0.3]} if state["srm"] else None
        return Judgement(Decision.HOLD, state["verdicts"], srm=state["srm"], srm_detail=detail)

    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    ctl = Controller(cfg, store, judge, apply_routing=lambda *_a: None)
    slow = MetricVerdict("latency_mean_ms", Status.FAIL, action="alert", candidate=180.0)
    state.update(srm=True, verdicts=[slow])
    ctl.tick()
    ctl.tick()  # unchanged: no new events
    state.update(srm=False, verdicts=[])
    ctl.tick()
    events = store.list_events("r1")[1:]
    assert [e["kind"] for e in events] == [
        "trigger_alert",
        "srm_detected",
        "trigger_resolved",
        "srm_resolved",
    ]
    alerts = [a for e in events for a in alerts_from_event(e)]
    assert [(a.kind, a.status) for a in alerts] == [
        ("trigger_fired", "firing"),
        ("srm", "firing"),
        ("trigger_fired", "resolved"),
        ("srm", "resolved"),
    ]
    assert alerts[0].key == alerts[2].key and alerts[1].key == alerts[3].key
    assert alerts[0].candidate == "b" and alerts[0].metric is not None
    assert alerts[0].metric.candidate.value == 180.0
    assert "observed shares [0.7, 0.3]" in alerts[1].summary
    store.close()
