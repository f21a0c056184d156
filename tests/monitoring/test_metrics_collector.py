"""RolloutCollector on a real controller and a real store: window numbers on both
databases, the TTL cache, a store that fails, and which version a verdict is about."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from saferollout.config import RolloutConfig, parse_config
from saferollout.monitoring import RolloutCollector
from saferollout.monitoring._metrics import judged_versions, read_window
from saferollout.rollout import Controller, TriggerJudge
from saferollout.store import InteractionRecord, ScoreUpdate, Store

T0 = 1_700_000_000.0


def _config(url: str) -> RolloutConfig:
    return parse_config(
        f"""
name: unit
versions:
  stable: {{url: "http://127.0.0.1:9/v1", model: m1}}
  canary: {{url: "http://127.0.0.1:9/v1", model: m2}}
stable: stable
candidate: canary
strategy: {{type: canary, steps: [{{weight: 10, pause: {{}}}}, {{weight: 50}}]}}
storage: {{url: "{url}"}}
""",
        env={},
    )


def seed(store: Store, version: str, n: int, *, start: int = 0, at: float = T0 + 10) -> None:
    """n scored records; every 4th a violation, with categories in the pipeline's format."""
    records, updates = [], []
    for i in range(start, start + n):
        rid = f"{version}-{i}"
        records.append(
            InteractionRecord(rid, at + i * 0.001, version, "chat.completions", 200, 100.0 + i)
        )
        evidence: dict[str, Any] = {
            # A scorer's evidence quoting the key in a string must not count.
            "judge": {"rationale": 'said "violation_categories":["hate"] once'},
        }
        violation = i % 4 == 0
        if violation:
            evidence["violation_categories"] = ["violence"] if i % 8 == 0 else ["crime", "hate"]
        updates.append(
            ScoreUpdate(
                rid,
                scores={},
                evidence=evidence,
                flags={"safety_violation": violation, "refusal": i % 5 == 0},
            )
        )
    store.insert_interactions(records)
    store.write_scores(updates)


def test_window_numbers_on_both_databases(store: Store) -> None:
    seed(store, "stable", 40)
    seed(store, "canary", 16)
    # Before the window: not counted.
    seed(store, "canary", 8, start=100, at=T0 - 100)
    # A request the canary failed, retried and answered by stable: counts against the canary.
    store.insert_interactions(
        [
            InteractionRecord(
                "retried", T0 + 50, "stable", "chat.completions", 200, 5.0, retried_from="canary"
            )
        ]
    )
    store.add_feedback("canary-1", "canary", kind="explicit", negative=True, data={})
    store.add_feedback("canary-2", "canary", kind="implicit", negative=True, data={})
    store.add_feedback("stable-1", "stable", kind="explicit", negative=False, data={})
    store.add_feedback("stable-0", "stable", kind="explicit", negative=False, data={}, created_at=1)

    w = read_window(store, T0, T0 + 100)

    assert w.aggregates["canary"].requests == 17 and w.aggregates["canary"].errors == 1
    assert w.aggregates["stable"].requests == 40  # the retried one is the canary's
    assert w.aggregates["stable"].flags["safety_violation"] == 10
    # stable: violations at i = 0, 4, ..., 36; violence at multiples of 8 (5), crime+hate at 5.
    assert w.violations[("stable", "violence")] == 5
    assert w.violations[("stable", "crime")] == 5
    assert w.violations[("stable", "hate")] == 5
    assert w.violations[("stable", "self_harm")] == 0
    assert w.violations[("canary", "violence")] == 2
    assert w.violations[("canary", "crime")] == 2
    assert w.feedback == {
        ("canary", "explicit", True): 1,
        ("canary", "implicit", True): 1,
        ("stable", "explicit", False): 1,
    }


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sqlite_store(tmp_path: Any) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'unit.db'}")
    yield s
    s.close()


@pytest.fixture
def controller(sqlite_store: Store) -> Controller:
    cfg = _config(sqlite_store.url)
    return Controller(
        cfg,
        sqlite_store,
        TriggerJudge(cfg.triggers),
        apply_routing=lambda *_args: None,
        clock=lambda: T0,
    )


def scrape(collector: RolloutCollector) -> dict[str, dict[frozenset[tuple[str, str]], float]]:
    registry = CollectorRegistry()
    registry.register(collector)
    out: dict[str, dict[frozenset[tuple[str, str]], float]] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            out.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return out


def _key(**labels: str) -> frozenset[tuple[str, str]]:
    return frozenset(labels.items())


def test_registering_does_not_query_and_the_cache_lasts_its_ttl(
    controller: Controller, sqlite_store: Store
) -> None:
    queries: list[str] = []
    sa.event.listen(sqlite_store.engine, "before_cursor_execute", lambda *a: queries.append(a[2]))
    clock = Clock(T0 + 100)
    collector = RolloutCollector(
        controller, sqlite_store, versions=["stable", "canary"], ttl_s=10, clock=clock
    )
    CollectorRegistry().register(collector)
    assert queries == []

    seed(sqlite_store, "canary", 4)
    first = scrape(collector)
    assert first["saferollout_rollout_requests"][_key(rollout="unit", version="canary")] == 4
    # A version with no traffic yet is shown at zero, side by side with the other.
    assert first["saferollout_rollout_requests"][_key(rollout="unit", version="stable")] == 0
    assert first["saferollout_rollout_window_age_seconds"][_key(rollout="unit")] == 0

    seed(sqlite_store, "canary", 4, start=4)
    queries.clear()
    clock.now += 9
    cached = scrape(collector)
    assert queries == []  # within the TTL: no query at all
    assert cached["saferollout_rollout_requests"][_key(rollout="unit", version="canary")] == 4
    assert cached["saferollout_rollout_window_age_seconds"][_key(rollout="unit")] == 9

    clock.now += 1
    fresh = scrape(collector)
    assert fresh["saferollout_rollout_requests"][_key(rollout="unit", version="canary")] == 8
    violations = fresh["saferollout_rollout_violations"]
    assert violations[_key(rollout="unit", version="canary", category="violence")] == 1


def test_a_failing_store_keeps_the_last_numbers_and_their_age_shows(
    controller: Controller, sqlite_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(T0 + 100)
    collector = RolloutCollector(controller, sqlite_store, ttl_s=5, clock=clock)
    seed(sqlite_store, "canary", 4)
    scrape(collector)
    with sqlite_store.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE interactions"))
    clock.now += 30
    with caplog.at_level(logging.WARNING, logger="saferollout.monitoring"):
        after = scrape(collector)
    assert "store aggregates unavailable" in caplog.text
    assert after["saferollout_rollout_requests"][_key(rollout="unit", version="canary")] == 4
    assert after["saferollout_rollout_window_age_seconds"][_key(rollout="unit")] == 30
    # The controller's own numbers do not depend on the store read.
    assert after["saferollout_rollout_phase"][_key(rollout="unit", phase="progressing")] == 1


def test_verdicts_appear_after_a_judgement_and_follow_the_judged_version(
    controller: Controller, sqlite_store: Store
) -> None:
    collector = RolloutCollector(controller, sqlite_store, clock=Clock(T0 + 100))
    before = scrape(collector)
    assert "saferollout_verdict" not in before  # nothing judged yet
    assert before["saferollout_rollout_step_index"][_key(rollout="unit")] == 0

    seed(sqlite_store, "stable", 40)
    seed(sqlite_store, "canary", 40)
    judgement = controller.tick()
    assert judgement is not None
    judged = scrape(collector)
    error = _key(rollout="unit", metric="error_rate", version="canary")
    assert judged["saferollout_verdict_samples"][error] == 40
    assert (
        _key(rollout="unit", metric="error_rate", version="stable")
        in (judged["saferollout_verdict_samples"])
    )

    controller.act("promote", actor="test", full=True)
    promoted = scrape(collector)
    # After promotion the canary is stable; the last judgement is still about it.
    info = promoted["saferollout_rollout_info"]
    assert _key(rollout="unit", strategy="canary", stable="canary", candidate="canary") in info
    assert promoted["saferollout_rollout_phase"][_key(rollout="unit", phase="promoted")] == 1
    assert error in promoted["saferollout_verdict"]


def test_judged_versions() -> None:
    progressing = {"phase": "progressing", "stable": "a", "candidate": "b"}
    assert judged_versions(progressing) == ("b", "a")
    promoted = {"phase": "promoted", "stable": "b", "candidate": "b", "previous_stable": "a"}
    assert judged_versions(promoted) == ("b", "a")
    released = {**promoted, "previous_stable": None}
    assert judged_versions(released) == ("b", None)
    rolled_back = {"phase": "rolled_back", "stable": "a", "candidate": "b"}
    assert judged_versions(rolled_back) == ("b", "a")
