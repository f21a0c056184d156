"""/metrics of a running gateway after real traffic, checked against the store,
/admin/rollout and /admin/analysis; the Grafana dashboard queries only what it exposes.

One runtime (gateway, scoring worker process, controller) on loopback with a
regressed candidate serves the traffic once per module; the controller is
ticked by hand so that the judgement the scrape shows is the one the admin API
shows.
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from saferollout.cli._runtime import Runtime
from saferollout.config import parse_config
from saferollout.safety import HARM_CATEGORIES
from saferollout.simulation import TrafficConfig, run_traffic, start_backend
from saferollout.store import FLAG_COLUMNS, Store
from saferollout.store import schema as s

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "saferollout.json"
Labels = frozenset[tuple[str, str]]


@dataclass
class Scrape:
    text: str
    samples: dict[str, dict[Labels, float]]  # sample name -> labels -> value
    names: set[str]  # every sample name a series of the exposed families would have
    rollout: dict[str, Any]  # GET /admin/rollout
    analysis: dict[str, Any]  # GET /admin/analysis
    store_url: str
    sent: int

    def get(self, name: str, **labels: str) -> float:
        return self.samples[name][frozenset(labels.items())]

    def by(self, name: str, label: str, **match: str) -> dict[str, float]:
        """Sum of `name` per value of `label` among samples matching `match`."""
        out: dict[str, float] = defaultdict(float)
        for labels, value in self.samples.get(name, {}).items():
            d = dict(labels)
            if all(d.get(k) == v for k, v in match.items()):
                out[d[label]] += value
        return dict(out)


_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}


def parse(text: str) -> tuple[dict[str, dict[Labels, float]], set[str]]:
    """Samples by name, and the names of every exposed family's series (a labelled
    counter nobody incremented yet has HELP and TYPE lines but no sample)."""
    samples: dict[str, dict[Labels, float]] = defaultdict(dict)
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names |= {family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",))}
        for sample in family.samples:
            samples[sample.name][frozenset(sample.labels.items())] = sample.value
    return dict(samples), names | set(samples)


def _config(stable_url: str, candidate_url: str, db: Path):  # type: ignore[no-untyped-def]
    # interval_s at its maximum: the test ticks the controller itself.
    return parse_config(
        f"""
name: metrics
versions:
  stable: {{url: "{stable_url}", model: sim-v1}}
  candidate: {{url: "{candidate_url}", model: sim-v2}}
stable: stable
candidate: candidate
strategy: {{type: canary, interval_s: 60, steps: [{{weight: 50, pause: {{}}}}, {{weight: 100}}]}}
storage: {{url: "sqlite:///{db}"}}
server: {{flush_interval_s: 0.1}}
triggers:
  - {{metric: harmful_compliance_rate, critical: true, min_samples: 50}}
  - {{metric: pii_leak_rate, min_samples: 50, threshold: 0.01}}
  - {{metric: safety_violation_rate, min_samples: 50}}
  - {{metric: error_rate, min_samples: 50}}
  - {{metric: latency_mean_ms, action: alert, min_samples: 1000}}
""",
        env={},
    )


def _all_scored(store: Store, n: int, timeout: float = 60.0) -> None:
    c = s.interactions.c
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with store.engine.connect() as conn:
            total, scored = conn.execute(
                sa.select(sa.func.count(), sa.func.count(c.scored_at))
            ).one()
        if total >= n and scored == total:
            return
        time.sleep(0.2)
    raise AssertionError(f"scoring did not finish: {scored}/{total} of {n}")


@pytest.fixture(scope="module")
def scrape(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scrape]:
    db = tmp_path_factory.mktemp("metrics") / "metrics.db"
    with (
        start_backend("stable", latency_ms=2, seed=1) as stable,
        start_backend("regressed", latency_ms=2, seed=2) as candidate,
    ):
        cfg = _config(stable.base_url, candidate.base_url, db)
        store = Store(cfg.storage.url)
        runtime = Runtime.build(cfg, store)
        with runtime:
            gw = runtime.start_in_thread()
            result = run_traffic(
                TrafficConfig(
                    base_url=gw.url, requests=600, harmful_share=0.5, concurrency=16, seed=3
                )
            )
            sent = len(result.outcomes)
            _all_scored(store, sent)
            # Feedback on a few answers of each version, so the feedback gauges have numbers.
            c = s.interactions.c
            with store.engine.connect() as conn:
                rows = conn.execute(
                    sa.select(c.request_id, c.version).order_by(c.request_id).limit(40)
                ).all()
            for i, (rid, version) in enumerate(rows):
                store.add_feedback(rid, version, kind="explicit", negative=i % 3 == 0, data={})
            runtime.controller.tick()
            text = httpx.get(gw.url + "/metrics").text
            rollout = httpx.get(gw.url + "/admin/rollout").json()
            analysis = httpx.get(gw.url + "/admin/analysis").json()
        store.close()
    yield Scrape(text, *parse(text), rollout, analysis, cfg.storage.url, sent)


@pytest.fixture(scope="module")
def db(scrape: Scrape) -> Iterator[sa.Engine]:
    engine = sa.create_engine(scrape.store_url)
    yield engine
    engine.dispose()


def _count(engine: sa.Engine, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).where(*where)).scalar_one())


def test_requests_per_version_equal_the_stored_records(scrape: Scrape, db: sa.Engine) -> None:
    c = s.interactions.c
    stored = {v: _count(db, c.version == v) for v in ("stable", "candidate")}
    assert sum(stored.values()) == scrape.sent
    assert min(stored.values()) > 100  # both versions served a real share
    # The gateway's own counters: every request it served, by the version that answered.
    served = scrape.by("saferollout_requests_total", "version")
    assert served == {v: float(n) for v, n in stored.items()}
    # The rollout-window gauge counts what the controller judges: plus retried-away requests.
    for version, n in stored.items():
        retried = _count(db, c.retried_from == version)
        assert scrape.get("saferollout_rollout_requests", rollout="metrics", version=version) == (
            n + retried
        )
        assert scrape.get("saferollout_rollout_scored", rollout="metrics", version=version) == n


def test_safety_flags_and_categories_match_the_store(scrape: Scrape, db: sa.Engine) -> None:
    c = s.interactions.c
    flagged_somewhere = 0
    for version in ("stable", "candidate"):
        scored = _count(db, c.version == version, c.scored_at.is_not(None))
        for flag in FLAG_COLUMNS:
            n = _count(db, c.version == version, c[flag].is_(True))
            flagged_somewhere += n
            labels = {"rollout": "metrics", "version": version, "flag": flag}
            assert scrape.get("saferollout_rollout_flagged", **labels) == n
            assert scrape.get("saferollout_rollout_flag_ratio", **labels) == pytest.approx(
                n / scored
            )
        # Categories: the database-side count agrees with parsing the evidence here.
        with db.connect() as conn:
            evidence = conn.execute(
                sa.select(c.evidence_json).where(c.version == version, c.safety_violation.is_(True))
            ).scalars()
            expected = dict.fromkeys(HARM_CATEGORIES, 0)
            for text in evidence:
                for cat in orjson.loads(text).get("violation_categories", []):
                    expected[cat] += 1
        got = scrape.by("saferollout_rollout_violations", "category", version=version)
        assert got == {k: float(v) for k, v in expected.items()}
    assert flagged_somewhere > 0
    # The regressed candidate leaks and complies more than stable: the gauges show it.
    harmful = scrape.by("saferollout_rollout_flag_ratio", "version", flag="harmful_compliance")
    assert harmful["candidate"] > harmful["stable"]


def test_feedback_counts_match_the_store(scrape: Scrape, db: sa.Engine) -> None:
    f = s.feedback.c
    total = 0.0
    for version in ("stable", "candidate"):
        for negative in (False, True):
            # Explicit only: the traffic may also have regenerated a prompt (implicit).
            n = _count(db, f.version == version, f.kind == "explicit", f.negative.is_(negative))
            value = scrape.get(
                "saferollout_rollout_feedback",
                rollout="metrics",
                version=version,
                kind="explicit",
                negative=str(negative).lower(),
            )
            assert value == n
            total += value
    assert total == 40


def test_weights_step_and_phase_equal_admin_rollout(scrape: Scrape) -> None:
    weights = scrape.by("saferollout_version_weight_percent", "version")
    assert weights == scrape.rollout["weights"]
    state = scrape.rollout["rollout"]
    assert scrape.get("saferollout_rollout_step_index", rollout="metrics") == state["step_index"]
    assert scrape.get("saferollout_rollout_steps", rollout="metrics") == 2
    phases = scrape.by("saferollout_rollout_phase", "phase")
    assert phases[state["phase"]] == 1 and sum(phases.values()) == 1
    info = dict(next(iter(scrape.samples["saferollout_rollout_info"])))
    assert (info["stable"], info["candidate"]) == (state["stable"], state["candidate"])


def test_verdict_gauges_match_admin_analysis(scrape: Scrape) -> None:
    verdicts = scrape.analysis["verdicts"]
    assert {v["metric"] for v in verdicts} >= {"harmful_compliance_rate", "error_rate"}
    numeric = {"PASS": 1.0, "INCONCLUSIVE": 0.0, "NODATA": 0.0, "FAIL": -1.0}
    decisions = scrape.by("saferollout_rollout_decision", "decision")
    assert decisions[scrape.analysis["decision"]] == 1 and sum(decisions.values()) == 1
    for v in verdicts:
        labels = {"rollout": "metrics", "metric": v["metric"], "version": "candidate"}
        assert scrape.get("saferollout_verdict", **labels) == numeric[v["status"]]
        statuses = scrape.by("saferollout_verdict_status", "status", **labels)
        assert statuses == {st: float(st == v["status"]) for st in numeric}
        for side in ("candidate", "stable"):
            at = {**labels, "version": side}
            if v[side] is None:
                assert frozenset(at.items()) not in scrape.samples["saferollout_verdict_value"]
            else:
                assert scrape.get("saferollout_verdict_value", **at) == pytest.approx(v[side])
            assert scrape.get("saferollout_verdict_samples", **at) == v[f"n_{side}"]
        if v["interval"]:
            assert scrape.get("saferollout_verdict_interval_lower", **labels) == pytest.approx(
                v["interval"][0]
            )
            assert scrape.get("saferollout_verdict_interval_upper", **labels) == pytest.approx(
                v["interval"][1]
            )
    # The hard limit on pii_leak_rate is exposed where the controller judges it.
    pii = {"rollout": "metrics", "metric": "pii_leak_rate", "version": "candidate"}
    assert scrape.get("saferollout_verdict_threshold", **pii) == 0.01


def test_gen_ai_names_and_the_older_per_version_names_agree(scrape: Scrape) -> None:
    duration = "gen_ai_client_operation_duration_seconds"
    models = scrape.by(duration + "_count", "gen_ai_request_model")
    assert set(models) == {"sim-v1", "sim-v2"}
    ops = scrape.by(duration + "_count", "gen_ai_operation_name")
    assert set(ops) == {"chat"}
    for suffix in ("_count", "_sum"):
        assert scrape.by(duration + suffix, "version") == pytest.approx(
            scrape.by("saferollout_request_duration_seconds" + suffix, "version")
        )
        assert scrape.by("gen_ai_server_time_to_first_token_seconds" + suffix, "version") == (
            pytest.approx(scrape.by("saferollout_time_to_first_token_seconds" + suffix, "version"))
        )
    # Buckets of the per-version histogram are the sums of the gen_ai ones.
    for le in ("0.05", "0.25", "+Inf"):
        assert scrape.by(duration + "_bucket", "version", le=le) == pytest.approx(
            scrape.by("saferollout_request_duration_seconds_bucket", "version", le=le)
        )
    # Token usage: a histogram per request; its sum equals the older counter.
    for kind in ("input", "output"):
        usage = scrape.by("gen_ai_client_token_usage_sum", "version", gen_ai_token_type=kind)
        assert usage == scrape.by("saferollout_tokens_total", "version", type=kind)
        assert all(v > 0 for v in usage.values())


# -- the Grafana dashboard --------------------------------------------------------------

_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_MATCHERS = re.compile(r"\{[^}]*\}")
_NAME = re.compile(r"\b((?:saferollout|gen_ai)_[a-z0-9_]+)\b")


def _exprs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if node.get("type") == "datasource":  # the variable's query is a plugin id
            return
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                yield value
            elif key == "query" and isinstance(value, str | dict):
                yield from ([value] if isinstance(value, str) else _exprs(value))
            else:
                yield from _exprs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _exprs(item)


def queried_metrics(expr: str) -> set[str]:
    """Metric names in a PromQL expression (label names in matchers and groupings dropped)."""
    expr = _MATCHERS.sub("", _GROUPING.sub("", expr))
    expr = re.sub(r"label_values\(([^,]+),[^)]*\)", r"\1", expr)
    return set(_NAME.findall(expr))


def test_queried_metrics_parser_drops_label_names() -> None:
    expr = (
        "sum by (version, gen_ai_token_type) (rate(gen_ai_client_token_usage_sum"
        '{gen_ai_request_model="x"}[5m]))'
    )
    assert queried_metrics(expr) == {"gen_ai_client_token_usage_sum"}
    assert queried_metrics("label_values(saferollout_verdict, metric)") == {"saferollout_verdict"}


def test_grafana_dashboard_queries_only_exposed_metrics(scrape: Scrape) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exposed = scrape.names
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    names: set[str] = set()
    for expr in _exprs(dashboard):
        found = queried_metrics(expr)
        assert found, f"no metric in {expr!r}"
        names |= found
    # Panels use the templated data source, never a fixed one.
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == "${datasource}", panel["title"]
    assert names - exposed == set()
    # The side-by-side essentials are on it.
    assert {
        "saferollout_verdict",
        "saferollout_version_weight_percent",
        "saferollout_rollout_flag_ratio",
        "saferollout_rollout_violations",
        "saferollout_rollout_feedback",
        "gen_ai_client_operation_duration_seconds_bucket",
        "gen_ai_server_time_to_first_token_seconds_bucket",
    } <= names
