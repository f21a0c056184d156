"""The alert dispatcher against a real HTTP receiver on loopback, with a real
controller (scripted judge) writing events to a real store (SQLite; PostgreSQL too for resume)."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from saferollout.config import RolloutConfig, parse_config
from saferollout.monitoring import AlertDispatcher
from saferollout.rollout import Controller, Decision, Judgement, MetricVerdict, Phase, Status
from saferollout.store import Store, VersionAggregate, schema

from .alert_receiver import AlertReceiver


class Judge:
    """Returns the verdicts the test sets, with values and intervals like the real one."""

    def __init__(self) -> None:
        self.decision = Decision.HOLD
        self.verdicts: list[MetricVerdict] = []

    def __call__(self, aggregates: Mapping[str, VersionAggregate], **kw: Any) -> Judgement:
        return Judgement(self.decision, list(self.verdicts), reason="scripted")


def harmful(status: Status = Status.FAIL, action: str = "rollback") -> MetricVerdict:
    return MetricVerdict(
        "harmful_compliance_rate",
        status,
        action=action,
        candidate=0.24,
        stable=0.012,
        interval=(0.19, 0.26),
        n_candidate=400,
        n_stable=380,
        critical=True,
        reason="harm detected against stable (critical)",
        candidate_interval=(0.20, 0.28),
        stable_interval=(0.005, 0.026),
    )


def latency(status: Status) -> MetricVerdict:
    return MetricVerdict(
        "latency_mean_ms",
        status,
        action="alert",
        candidate=180.0,
        stable=90.0,
        n_candidate=300,
        n_stable=900,
        candidate_interval=(160.0, 200.0),
        stable_interval=(85.0, 95.0),
        reason="harm detected against stable",
    )


def config(db: Path, alerts: str, *, poll_s: float = 0.05) -> RolloutConfig:
    return parse_config(
        f"""
name: r1
versions:
  stable: {{url: "http://127.0.0.1:1/v1", model: a}}
  canary: {{url: "http://127.0.0.1:2/v1", model: b}}
stable: stable
candidate: canary
storage: {{url: "sqlite:///{db}"}}
strategy: {{type: canary, steps: [{{weight: 10, pause: {{}}}}]}}
alerts:
  poll_interval_s: {poll_s}
  dashboard_url: "http://dash.example:8080/dashboard"
  retry: {{max_attempts: 3, initial_backoff_s: 0.1, multiplier: 2}}
{alerts}
""",
        env={},
    )


@pytest.fixture
def receiver() -> Iterator[AlertReceiver]:
    with AlertReceiver() as rx:
        yield rx


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Store]:
    """SQLite only; the tests that read the store's records run on both (`store`)."""
    s = Store(f"sqlite:///{tmp_path / 'alerts.db'}")
    yield s
    s.close()


@contextmanager
def dispatching(
    cfg: RolloutConfig, store: Store, **kw: Any
) -> Iterator[tuple[AlertDispatcher, CollectorRegistry]]:
    registry = CollectorRegistry()
    d = AlertDispatcher(cfg.alerts, store, cfg.name, registry=registry, **kw).start()
    try:
        yield d, registry
    finally:
        d.stop(timeout=2)


def count(registry: CollectorRegistry, sink: str, kind: str, outcome: str) -> float:
    labels = {"sink": sink, "kind": kind, "outcome": outcome}
    return registry.get_sample_value("saferollout_alerts_sent_total", labels) or 0.0


def controller(cfg: RolloutConfig, store: Store, judge: Judge) -> Controller:
    return Controller(cfg, store, judge, apply_routing=lambda *_a: None)


def kinds(received: list[Any]) -> list[str]:
    return [r.body["kind"] for r in received]


def test_each_sink_format_is_received_and_parsed(
    receiver: AlertReceiver, db: Store, tmp_path: Path
) -> None:
    cfg = config(
        tmp_path / "alerts.db",
        f"""  sinks:
    - {{name: hook, type: webhook, url: "{receiver.url}/hook", headers_env: {{Authorization: TOK}}}}
    - {{name: chat, type: slack, url_env: SLACK_URL}}
    - {{name: am, type: alertmanager, url: "{receiver.url}/am", kinds: [rollback]}}
""",
    )
    judge = Judge()
    ctl = controller(cfg, db, judge)  # writes rollout_started
    env = {"TOK": "Bearer s3cret", "SLACK_URL": receiver.url + "/slack"}
    with dispatching(cfg, db, env=env) as (_d, registry):
        judge.decision, judge.verdicts = Decision.ROLLBACK, [harmful()]
        ctl.tick()
        assert ctl.state.phase is Phase.ROLLED_BACK

        hook = receiver.wait_for(lambda r: len(r) >= 2, "/hook")
        # The start of the rollout (recent, so replayed at start) and the rollback.
        assert kinds(hook) == ["rollout_started", "rollback"]
        body = hook[1].body
        assert hook[1].headers["Authorization"] == "Bearer s3cret"
        assert body["schema"] == "saferollout.alert/v1" and body["severity"] == "critical"
        assert (body["rollout"], body["stable"], body["candidate"]) == ("r1", "stable", "canary")
        assert body["phase"] == "rolled_back" and body["weights"] == {"canary": 0.0}
        metric = body["metric"]
        assert metric["name"] == "harmful_compliance_rate"
        assert metric["candidate"] == {
            "version": "canary",
            "value": 0.24,
            "interval": [0.20, 0.28],
            "n": 400,
        }
        assert metric["stable"]["value"] == 0.012 and metric["stable"]["interval"] == [0.005, 0.026]
        assert body["dashboard_url"] == "http://dash.example:8080/dashboard"

        slack = receiver.wait_for(lambda r: len(r) >= 2, "/slack")
        text = slack[1].body["text"]
        assert "[CRITICAL]" in text and "canary rolled back to stable" in text
        assert "candidate 24% [20, 28] (n=400) vs stable 1.2% [0.5, 2.6] (n=380)" in text
        blocks = slack[1].body["blocks"]
        assert blocks[-1]["elements"][0]["url"] == "http://dash.example:8080/dashboard"

        [am] = receiver.wait_for(lambda r: len(r) >= 1, "/am/api/v2/alerts")
        [item] = am.body  # a list of alerts, filtered to rollbacks
        assert item["labels"]["alertname"] == "SaferolloutRollback"
        assert item["labels"]["version"] == "canary"
        assert item["labels"]["metric"] == "harmful_compliance_rate"
        assert item["annotations"]["dashboard"] == "http://dash.example:8080/dashboard"
        assert item["startsAt"].endswith("Z") and item["endsAt"] > item["startsAt"]
        assert count(registry, "am", "rollout_started", "filtered") == 1
    assert count(registry, "hook", "rollback", "sent") == 1
    # What was alerted is on the record (and is where a restart resumes).
    records = [e for e in db.list_events("r1") if e["kind"] == "alert"]
    assert [r["data"]["source_kind"] for r in records] == ["rollout_started", "rolled_back"]
    assert records[1]["data"]["alerts"][0]["sinks"] == ["hook", "chat", "am"]


def test_resolved_when_the_trigger_clears_and_duplicates_are_sent_once(
    receiver: AlertReceiver, db: Store, tmp_path: Path
) -> None:
    cfg = config(
        tmp_path / "alerts.db",
        f"""  sinks:
    - {{name: hook, type: webhook, url: "{receiver.url}/hook", min_severity: warning}}
    - {{name: am, type: alertmanager, url: "{receiver.url}/am"}}
""",
    )
    judge = Judge()
    ctl = controller(cfg, db, judge)
    with dispatching(cfg, db) as (_d, registry):
        judge.verdicts = [latency(Status.FAIL)]
        ctl.tick()  # latency fails: trigger_alert
        ctl.tick()  # still failing: no new event
        judge.verdicts = [latency(Status.PASS)]
        ctl.tick()  # clears: trigger_resolved
        got = receiver.wait_for(lambda r: len(r) >= 2, "/hook")
        assert [(b.body["kind"], b.body["status"]) for b in got] == [
            ("trigger_fired", "firing"),
            ("trigger_fired", "resolved"),
        ]
        assert got[0].body["metric"]["candidate"]["interval"] == [160.0, 200.0]
        assert "resolved: latency_mean_ms no longer fails" in got[1].body["summary"]
        am = receiver.wait_for(lambda r: len(r) >= 3, "/am/api/v2/alerts")
        fired, resolved = am[1].body[0], am[2].body[0]  # am[0]: rollout_started
        assert fired["labels"] == resolved["labels"]  # Alertmanager matches them by labels
        assert resolved["endsAt"] <= time.strftime("%Y-%m-%dT%H:%M:%S.999999Z", time.gmtime())
        assert fired["endsAt"] > resolved["endsAt"]

        # The same pause twice within the repeat interval reaches a sink once.
        judge.decision = Decision.PAUSE
        judge.verdicts = [harmful(action="pause")]
        ctl.tick()
        ctl.act("resume", actor="admin:ops")
        ctl.tick()
        assert [e["kind"] for e in db.list_events("r1")].count("paused") == 2
        receiver.wait_for(lambda r: "paused" in kinds(r), "/hook")
        deadline = time.monotonic() + 5
        while count(registry, "hook", "paused", "duplicate") < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert count(registry, "hook", "paused", "duplicate") == 1
        assert kinds(receiver.received("/hook")).count("paused") == 1


def test_rate_limit_per_sink(receiver: AlertReceiver, db: Store, tmp_path: Path) -> None:
    cfg = config(
        tmp_path / "alerts.db",
        f"""  sinks:
    - {{name: few, type: webhook, url: "{receiver.url}/few", max_per_minute: 2}}
    - {{name: many, type: webhook, url: "{receiver.url}/many"}}
""",
    )
    with dispatching(cfg, db) as (_d, registry):
        for step in range(5):
            data = {"step": step, "stable": "stable", "candidate": "canary", "weights": {}}
            db.append_event("r1", "step_advanced", f"step {step + 1}", data=data)
        receiver.wait_for(lambda r: len(r) == 5, "/many")
        time.sleep(0.3)
        assert len(receiver.received("/few")) == 2
        assert count(registry, "few", "step_advanced", "rate_limited") == 3
        # A rollback is critical: never dropped for rate.
        db.append_event("r1", "rolled_back", "canary at 0%", data={"candidate": "canary"})
        got = receiver.wait_for(lambda r: len(r) == 3, "/few")
        assert got[-1].body["kind"] == "rollback"


def test_a_failing_sink_is_retried_with_backoff_then_recorded(
    receiver: AlertReceiver, db: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = config(
        tmp_path / "alerts.db",
        f"""  sinks:
    - {{name: flaky, type: webhook, url: "{receiver.url}/flaky"}}
    - {{name: down, type: slack, url_env: SECRET_HOOK}}
    - {{name: wrong, type: webhook, url: "{receiver.url}/wrong"}}
""",
    )
    receiver.fail("/flaky", times=2)  # 503, 503, then 200
    receiver.fail("/T000/B000/xoxsecret", times=99)  # never recovers
    receiver.answer("/wrong", 404)  # permanent: not retried
    caplog.set_level(logging.INFO, logger="saferollout.alerts")
    env = {"SECRET_HOOK": receiver.url + "/T000/B000/xoxsecret"}
    with dispatching(cfg, db, env=env) as (_d, registry):
        db.append_event("r1", "rolled_back", "canary at 0%", data={"candidate": "canary"})
        [got] = receiver.wait_for(lambda r: len(r) == 1, "/flaky")
        assert got.body["kind"] == "rollback"
        tries = [r.at for r in receiver.requests if r.path == "/flaky"]
        assert len(tries) == 3
        gaps = [b - a for a, b in itertools.pairwise(tries)]
        assert 0.07 < gaps[0] < gaps[1]  # ~0.1 s then ~0.2 s: exponential
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and count(registry, "down", "rollback", "failed") < 1:
            time.sleep(0.02)
    assert receiver.attempts["/T000/B000/xoxsecret"] == 3  # bounded by max_attempts
    assert receiver.attempts["/wrong"] == 1
    assert count(registry, "flaky", "rollback", "sent") == 1
    assert count(registry, "down", "rollback", "failed") == 1
    failed = {e["data"]["sink"]: e for e in db.list_events("r1") if e["kind"] == "alert_failed"}
    assert set(failed) == {"down", "wrong"}
    assert failed["down"]["data"]["attempts"] == 3 and "HTTP 503" in failed["down"]["message"]
    assert "HTTP 404 (not retried)" in failed["wrong"]["message"]
    # A Slack webhook URL is a credential: not in logs, not in the audit log.
    assert "xoxsecret" not in caplog.text and "xoxsecret" not in str(db.list_events("r1"))
    assert "sink down failed after 3 attempt(s)" in caplog.text


def test_a_hanging_sink_delays_no_other_sink(
    receiver: AlertReceiver, db: Store, tmp_path: Path
) -> None:
    cfg = config(
        tmp_path / "alerts.db",
        f"""  sinks:
    - {{name: slow, type: webhook, url: "{receiver.url}/slow", timeout_s: 0.3}}
    - {{name: fast, type: webhook, url: "{receiver.url}/fast"}}
""",
    )
    receiver.hang("/slow")
    with dispatching(cfg, db) as (_d, registry):
        start = time.monotonic()
        db.append_event("r1", "rolled_back", "canary at 0%", data={"candidate": "canary"})
        receiver.wait_for(lambda r: len(r) == 1, "/fast")
        assert time.monotonic() - start < 1.0  # not behind the hanging sink's timeout
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and count(registry, "slow", "rollback", "failed") < 1:
            time.sleep(0.02)
    assert count(registry, "slow", "rollback", "failed") == 1
    [failed] = [e for e in db.list_events("r1") if e["kind"] == "alert_failed"]
    assert "timed out after 0.3s" in failed["message"]


def test_restart_resumes_after_the_last_alerted_event(
    receiver: AlertReceiver, store: Store, tmp_path: Path
) -> None:
    cfg = config(
        tmp_path / "alerts.db",
        f"""  sinks:
    - {{name: hook, type: webhook, url: "{receiver.url}/hook"}}
""",
    )
    data = {"candidate": "canary", "stable": "stable"}
    with dispatching(cfg, store):
        store.append_event("r1", "step_advanced", "step 1", data={**data, "step": 0})
        receiver.wait_for(lambda r: len(r) == 1, "/hook")
    # Down for a while: what happens meanwhile is sent on the next start, once.
    store.append_event("r1", "step_advanced", "step 2", data={**data, "step": 1})
    with dispatching(cfg, store):
        got = receiver.wait_for(lambda r: len(r) == 2, "/hook")
        store.append_event("r1", "promoted", "promoted", data=data)
        got = receiver.wait_for(lambda r: len(r) == 3, "/hook")
    assert [g.body["summary"] for g in got][:2] == ["[r1] step 1", "[r1] step 2"]
    assert got[2].body["kind"] == "promoted"


def test_old_history_is_not_replayed_and_only_the_leader_sends(
    receiver: AlertReceiver, store: Store, tmp_path: Path
) -> None:
    cfg = config(
        tmp_path / "alerts.db",
        f"""  sinks:
    - {{name: hook, type: webhook, url: "{receiver.url}/hook"}}
""",
    )
    old = store.append_event("r1", "rolled_back", "long ago", data={"candidate": "old"})
    with store.engine.begin() as conn:  # an hour ago: beyond the replay window (300 s)
        e = schema.events
        conn.execute(sa.update(e).where(e.c.id == old).values(created_at=time.time() - 3600))
    leading = False
    with dispatching(cfg, store, leading=lambda: leading) as (d, _registry):
        time.sleep(0.2)
        store.append_event("r1", "promoted", "while following", data={"candidate": "c1"})
        time.sleep(0.2)
        assert receiver.received() == [] and d.cursor is None
        leading = True
        # Leading now: the recent event is sent (a leader change loses nothing), the
        # one from an hour ago is not.
        [got] = receiver.wait_for(lambda r: len(r) == 1, "/hook")
        assert got.body["candidate"] == "c1"
        store.append_event("r1", "promoted", "now leading", data={"candidate": "c2"})
        got2 = receiver.wait_for(lambda r: len(r) == 2, "/hook")
        assert [g.body["candidate"] for g in got2] == ["c1", "c2"]


def test_what_the_leader_wrote_last_goes_out_when_it_stops(
    receiver: AlertReceiver, db: Store, tmp_path: Path
) -> None:
    cfg = config(
        tmp_path / "alerts.db",
        f"""  sinks:
    - {{name: hook, type: webhook, url: "{receiver.url}/hook"}}
""",
        poll_s=30,
    )
    leading = True
    with dispatching(cfg, db, leading=lambda: leading) as (d, _registry):
        deadline = time.monotonic() + 5
        while d.cursor is None and time.monotonic() < deadline:
            time.sleep(0.01)  # the first poll has run; the next is 30 s away
        db.append_event("r1", "rolled_back", "last words", data={"candidate": "canary"})
        leading = False  # as Runtime.stop: the replica releases the lease first
    [got] = receiver.received("/hook")
    assert got.body["kind"] == "rollback"
