"""The dashboard's queries on a seeded store, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from saferollout.monitoring._dashboard_data import bucket_size, collect, time_series
from saferollout.monitoring._dashboard_view import metric_interval, metric_value, render_sections
from saferollout.store import InteractionRecord, ScoreUpdate, Store

SINCE = 1_000.0
NOW = SINCE + 100.0  # 100 s of rollout: 2 s buckets, 51 of them


def record(rid: str, t: float, version: str, latency: float, **kw: Any) -> InteractionRecord:
    return InteractionRecord(
        request_id=rid,
        created_at=t,
        version=version,
        endpoint="chat.completions",
        status_code=kw.pop("status_code", 200),
        latency_ms=latency,
        **kw,
    )


def seed(store: Store) -> None:
    store.insert_interactions(
        [
            record("old", SINCE - 1, "stable", 999.0),  # before the rollout: not shown
            record("s1", SINCE + 0.5, "stable", 10.0),
            record("s2", SINCE + 1.9, "stable", 30.0, error_kind="upstream_5xx", status_code=502),
            record("s3", SINCE + 10.0, "stable", 50.0),
            record("s4", SINCE + 3.0, "stable", 40.0, retried_from="candidate"),
            record("s5", SINCE + 3.5, "stable", 20.0, error_kind="client_disconnected"),
            record(
                "c1",
                SINCE + 0.1,
                "candidate",
                100.0,
                request_messages=[
                    {"role": "system", "content": "be nice"},
                    {"role": "user", "content": "mail me at bob@example.com"},
                ],
                response_text="<b>bold</b> sure: bob@example.com and 4111 1111 1111 1111",
            ),
        ]
    )
    flags = lambda **on: {k: True for k in on}  # noqa: E731
    store.write_scores(
        [
            ScoreUpdate("s1", {}, {}, flags(harmful_compliance=1, refusal=1)),
            ScoreUpdate("s2", {}, {}, {}),
            ScoreUpdate("s4", {}, {}, {}),
            ScoreUpdate(
                "c1",
                {"pii": 1.0},
                {"pii": {"leaked": [{"type": "CREDIT_CARD", "hint": "***11"}]}, "note": "x@y.org"},
                flags(pii_leak=1, safety_violation=1),
            ),
        ]
    )


def test_bucket_size_keeps_charts_under_sixty_points() -> None:
    assert bucket_size(1) == 1
    assert bucket_size(60) == 1
    assert bucket_size(61) == 2
    assert bucket_size(100) == 2
    assert bucket_size(3600) == 60
    assert bucket_size(7 * 86400) == 21600
    for span in (5, 59, 600, 4000, 90_000):
        assert span / bucket_size(span) <= 60


def test_time_series_per_version_and_bucket(store: Store) -> None:
    seed(store)
    with store.engine.connect() as conn:
        series = time_series(conn, since=SINCE, now=NOW, is_sqlite=store.is_sqlite)
    assert series["bucket_s"] == 2
    assert series["t"] == [SINCE + 2 * i for i in range(51)]
    stable, candidate = series["versions"]["stable"], series["versions"]["candidate"]

    # s4 was retried away from the candidate: the candidate's request, not stable's.
    assert stable["requests"][:6] == [2, 1, 0, 0, 0, 1]
    assert sum(stable["requests"]) == 4  # the record before the rollout is left out
    assert stable["error_rate"][0] == 0.5  # s2 failed; s5 (client went away) is no error
    assert stable["error_rate"][1] == 0.0
    assert stable["error_rate"][2] is None  # nothing in the bucket: a gap, not a zero
    assert stable["latency_mean_ms"][0] == pytest.approx(20.0)
    assert stable["latency_mean_ms"][1] == pytest.approx(30.0)
    assert stable["harmful_compliance_rate"][0] == 0.5  # 1 of the 2 scored
    assert stable["refusal_rate"][0] == 0.5
    assert stable["harmful_compliance_rate"][1] == 0.0  # s4 scored, s5 not
    assert stable["harmful_compliance_rate"][5] is None  # s3 not scored yet

    # The request retried on stable counts against the candidate that failed it.
    assert candidate["requests"][:2] == [1, 1]
    assert candidate["error_rate"][:2] == [0.0, 1.0]
    assert candidate["latency_mean_ms"][0] == pytest.approx(100.0)
    assert candidate["latency_mean_ms"][1] is None  # its only row there is stable's
    assert candidate["pii_leak_rate"][0] == 1.0
    assert candidate["safety_violation_rate"][0] == 1.0

    # The same totals as the controller's aggregates.
    aggregates = store.aggregate_versions(since=SINCE)
    for version, agg in aggregates.items():
        assert sum(series["versions"][version]["requests"]) == agg.requests


def snapshot(**state: Any) -> dict[str, Any]:
    rollout = {
        "name": "seeded",
        "strategy": "canary",
        "stable": "stable",
        "candidate": "candidate",
        "phase": "progressing",
        "started_at": SINCE,
        "step_index": 0,
        "reason": "",
        **state,
    }
    return {
        "rollout": rollout,
        "weights": {"stable": 90.0, "candidate": 10.0},
        "steps": [{"weight": 10}],
        "judgement": {
            "decision": "hold",
            "reason": "warming up",
            "srm": False,
            "verdicts": [
                {
                    "metric": "pii_leak_rate",
                    "status": "FAIL",
                    "action": "rollback",
                    "candidate": 0.031,
                    "stable": 0.004,
                    "interval": [0.001, float("inf")],
                    "p_value": 0.01,
                    "n_candidate": 300,
                    "n_stable": 290,
                    "critical": True,
                    "dry_run": False,
                    "reason": "harm",
                    "candidate_interval": [0.01, 0.06],
                    "stable_interval": [0.0, 0.02],
                }
            ],
        },
    }


def test_counts_match_the_controllers_aggregates(store: Store) -> None:
    seed(store)
    data = collect(store, snapshot(), triggers=["pii_leak_rate"], redact="none", now=NOW)
    aggregates = store.aggregate_versions(since=SINCE)
    for version, agg in aggregates.items():
        assert data.counts[version]["requests"] == agg.requests
        assert data.counts[version]["errors"] == agg.errors
    assert data.counts["stable"]["scored"] == 3
    assert data.flagged_counts == {"stable": 1, "candidate": 1}
    assert data.versions == ["stable", "candidate"]


@pytest.mark.parametrize("redact", ["none", "pii", "drop"])
def test_flagged_interactions_follow_the_redaction_setting(store: Store, redact: str) -> None:
    seed(store)
    data = collect(store, snapshot(), triggers=[], redact=redact, now=NOW)
    by_id = {f["request_id"]: f for f in data.flagged}
    assert list(by_id) == ["s1", "c1"]  # newest first; only problem flags count
    c1 = by_id["c1"]
    assert c1["flags"] == ["safety_violation", "pii_leak"]
    html = render_sections(data)["flagged"]
    if redact == "none":
        assert c1["prompt"] == "mail me at bob@example.com"
        assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold" not in html
    elif redact == "pii":
        assert c1["prompt"] == "mail me at <EMAIL_ADDRESS>"
        assert "bob@example.com" not in c1["response"]
        assert "<CREDIT_CARD>" in c1["response"]
        assert c1["evidence"]["note"] == "<EMAIL_ADDRESS>"  # evidence strings too
        assert "bob@example.com" not in html and "x@y.org" not in html
    else:
        assert c1["prompt"] == "" and c1["response"] == ""
        assert "bob@example.com" not in html and "bold" not in html
        assert "logging.redact: drop" in html


def test_events_of_this_rollout_and_the_forced_banner(store: Store) -> None:
    store.append_event("seeded", "rollout_started", "first candidate", actor="controller")
    store.append_event("seeded", "preflight_forced", "an old forced start", actor="cli")
    store.append_event("seeded", "rolled_back", "first candidate at 0%", actor="controller")
    store.append_event("other", "paused", "another rollout", actor="controller")
    data = collect(store, snapshot(), triggers=[], redact="none", now=NOW)
    assert data.forced is not None  # the current (only) rollout was forced
    assert [e["kind"] for e in data.events] == [
        "rolled_back",
        "preflight_forced",
        "rollout_started",
    ]
    assert {a["kind"] for a in data.alerts} == {"rollback", "preflight_forced", "rollout_started"}

    # The next candidate under the same name starts a new rollout: the old
    # rollout's events and its forced start are not this one's.
    store.append_event("seeded", "rollout_started", "second candidate", actor="controller")
    data = collect(store, snapshot(), triggers=[], redact="none", now=NOW)
    assert data.forced is None
    assert [e["message"] for e in data.events] == ["second candidate"]
    assert render_sections(data)["banner"].strip() == ""

    # A third one, forced: the gate's event just before its start is its own.
    store.append_event("seeded", "promoted", "second candidate promoted", actor="controller")
    store.append_event("seeded", "preflight_forced", "forced third", actor="cli")
    store.append_event("seeded", "rollout_started", "third candidate", actor="controller")
    data = collect(store, snapshot(), triggers=[], redact="none", now=NOW)
    assert data.forced is not None and data.forced["message"] == "forced third"
    assert [e["message"] for e in data.events] == ["third candidate", "forced third"]
    assert "forced third" in render_sections(data)["banner"]

    # A forced start recorded by the state alone still shows.
    store.append_event("seeded", "rollout_started", "fourth candidate", actor="controller")
    data = collect(
        store, snapshot(forced_without_preflight=True), triggers=[], redact="none", now=NOW
    )
    assert "--force-without-preflight" in render_sections(data)["banner"]


def test_no_judgement_yet_lists_the_triggers_without_data(store: Store) -> None:
    snap = snapshot()
    snap["judgement"] = None
    data = collect(store, snap, triggers=["error_rate", "latency_mean_ms"], redact="none", now=NOW)
    assert [(r["metric"], r["status"]) for r in data.comparison] == [
        ("error_rate", "NODATA"),
        ("latency_mean_ms", "NODATA"),
    ]
    html = render_sections(data)["comparison"]
    assert "no analysis yet" in html


def test_formatting() -> None:
    assert metric_value(0.0312, "pii_leak_rate") == "3.12%"
    assert metric_value(123.44, "latency_mean_ms") == "123.4 ms"
    assert metric_value(None, "error_rate") == "\u2013"
    assert metric_interval([0.001, float("inf")], "pii_leak_rate") == "[+0.10, +\u221e] pp"
    assert metric_interval([-12.0, 30.55], "latency_mean_ms") == "[-12.0, +30.6] ms"
    assert metric_interval(None, "error_rate") == "\u2013"
