"""The controller's state machine: a scripted judge, a fake clock, a real SQLite store."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from saferollout.config import RolloutConfig, parse_config
from saferollout.rollout import (
    Controller,
    Decision,
    InvalidAction,
    Judgement,
    MetricVerdict,
    Phase,
    Status,
)
from saferollout.store import InteractionRecord, Store, VersionAggregate


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class ScriptedJudge:
    """Returns whatever decision the test sets; records what it was asked."""

    def __init__(self) -> None:
        self.decision = Decision.ADVANCE
        self.reason = "ok"
        self.calls = 0

    def __call__(self, aggregates: Mapping[str, VersionAggregate], **kw: Any) -> Judgement:
        self.calls += 1
        verdicts = []
        if self.decision in (Decision.ROLLBACK, Decision.PAUSE):
            verdicts = [MetricVerdict("harmful_compliance_rate", Status.FAIL, reason=self.reason)]
        return Judgement(self.decision, verdicts, reason=self.reason)


class Routing:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, float], int | None]] = []
        self.shadow: tuple[str, float] | None = None

    def __call__(
        self,
        stable: str,
        weights: dict[str, float],
        step: int | None,
        shadow: tuple[str, float] | None,
    ) -> None:
        self.calls.append((stable, weights, step))
        self.shadow = shadow

    @property
    def last(self) -> tuple[str, dict[str, float], int | None]:
        return self.calls[-1]


def config(steps: str, **strategy: Any) -> RolloutConfig:
    extra = "".join(f", {k}: {v}" for k, v in strategy.items())
    return parse_config(
        f"""
name: r1
versions:
  stable: {{url: "http://127.0.0.1:1/v1", model: a}}
  canary: {{url: "http://127.0.0.1:2/v1", model: b}}
stable: stable
candidate: canary
strategy: {{type: canary, steps: {steps}{extra}}}
""",
        env={},
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'c.db'}")


def serve(store: Store, clock: FakeClock, n: int, version: str = "canary") -> None:
    base = store.count_interactions()
    store.insert_interactions(
        [
            InteractionRecord(
                request_id=f"r{base + i}",
                created_at=clock.now,
                version=version,
                endpoint="chat.completions",
                status_code=200,
                latency_ms=5.0,
            )
            for i in range(n)
        ]
    )


def make(
    store: Store, cfg: RolloutConfig, clock: FakeClock | None = None
) -> tuple[Controller, ScriptedJudge, Routing, FakeClock]:
    clock = clock or FakeClock()
    judge, routing = ScriptedJudge(), Routing()
    return Controller(cfg, store, judge, apply_routing=routing, clock=clock), judge, routing, clock


def test_starts_at_first_step_and_persists(store: Store) -> None:
    c, _, routing, _ = make(store, config("[{weight: 5, pause: {requests: 10}}]"))
    assert c.state.phase is Phase.PROGRESSING and c.state.candidate_weight == 5
    assert routing.last == ("stable", {"canary": 5.0}, 0)
    assert store.load_state("r1") is not None
    assert [e["kind"] for e in store.list_events("r1")] == ["rollout_started"]


def test_pause_by_requests_counts_candidate_requests_in_the_step(store: Store) -> None:
    c, judge, routing, clock = make(
        store, config("[{weight: 5, pause: {requests: 10}}, {weight: 50}]")
    )
    serve(store, clock, 9)
    serve(store, clock, 50, version="stable")  # stable traffic does not count
    c.tick()
    assert c.state.step_index == 0
    serve(store, clock, 1)
    judge.decision = Decision.HOLD
    c.tick()
    assert c.state.step_index == 0 and c.state.hold_since == clock.now
    judge.decision = Decision.ADVANCE
    c.tick()
    assert c.state.step_index == 1 and routing.last == ("stable", {"canary": 50.0}, 1)
    assert c.state.step_start_requests == 10


def test_pause_by_seconds_uses_the_clock(store: Store) -> None:
    c, _, _, clock = make(store, config("[{weight: 1, pause: {seconds: 60}}, {weight: 10}]"))
    clock.now += 59
    c.tick()
    assert c.state.step_index == 0
    clock.now += 1
    c.tick()
    assert c.state.step_index == 1


def test_empty_pause_waits_for_a_human(store: Store) -> None:
    c, _, _, clock = make(store, config("[{weight: 1, pause: {}}, {weight: 10}]"))
    clock.now += 10_000
    serve(store, clock, 1000)
    c.tick()
    assert c.state.step_index == 0
    c.act("promote", actor="alice")
    assert c.state.step_index == 1
    assert store.list_events("r1")[-1]["actor"] == "alice"


def test_failing_trigger_rolls_back_at_once(store: Store) -> None:
    c, judge, routing, _ = make(store, config("[{weight: 25}]"))
    judge.decision, judge.reason = Decision.ROLLBACK, "harmful_compliance_rate +4.0 points"
    c.tick()
    assert c.state.phase is Phase.ROLLED_BACK
    assert routing.last == ("stable", {"canary": 0.0}, None)
    event = store.list_events("r1")[-1]
    assert event["kind"] == "rolled_back" and "harmful_compliance_rate" in event["message"]
    assert event["data"]["judgement"]["verdicts"][0]["status"] == "FAIL"
    calls = judge.calls
    c.tick()  # finished: nothing more is judged
    assert judge.calls == calls


def test_pause_trigger_freezes_and_resume_continues(store: Store) -> None:
    c, judge, routing, _ = make(store, config("[{weight: 25}, {weight: 50}]"))
    judge.decision = Decision.PAUSE
    c.tick()
    assert c.state.phase is Phase.PAUSED and routing.last[1] == {"canary": 25.0}
    judge.decision = Decision.ADVANCE
    c.tick()
    assert c.state.phase is Phase.PAUSED and c.state.step_index == 0  # frozen
    c.act("resume")
    c.tick()
    assert c.state.phase is Phase.PROGRESSING and c.state.step_index == 1


def test_invalid_actions_change_nothing(store: Store) -> None:
    c, _, _, _ = make(store, config("[{weight: 25}]"))
    revision, events = c.revision, len(store.list_events("r1"))
    with pytest.raises(InvalidAction, match="not paused"):
        c.act("resume")
    with pytest.raises(InvalidAction, match="unknown action"):
        c.act("explode")
    with pytest.raises(InvalidAction, match="blue_green"):
        c.act("switch")
    assert c.revision == revision and len(store.list_events("r1")) == events
    c.act("abort")
    with pytest.raises(InvalidAction, match="aborted"):
        c.act("promote")
    with pytest.raises(InvalidAction, match="nothing to roll back"):
        c.act("rollback")


def test_restart_resumes_exactly(store: Store) -> None:
    cfg = config(
        "[{weight: 1, pause: {seconds: 600}}, {weight: 5, pause: {seconds: 600}}, {weight: 50}]"
    )
    c, _, _, clock = make(store, cfg)
    clock.now += 600
    c.tick()
    step_started = c.state.step_started_at
    clock.now += 300
    # A new process: the same store, a fresh controller.
    c2, _, routing2, _ = make(store, cfg, clock)
    assert c2.state.step_index == 1 and c2.state.step_started_at == step_started
    assert routing2.last == ("stable", {"canary": 5.0}, 1)
    clock.now += 299
    c2.tick()
    assert c2.state.step_index == 1  # the pause keeps its original start
    clock.now += 1
    c2.tick()
    assert c2.state.step_index == 2


def test_promotion_then_fast_rollback_window(store: Store) -> None:
    cfg = config("[{weight: 50}]", fast_rollback_window_s=100)
    c, _, routing, _ = make(store, cfg)
    c.tick()
    assert c.state.phase is Phase.PROMOTED and c.state.stable == "canary"
    assert routing.last == ("canary", {}, None)
    c.act("rollback", reason="users complain")
    assert c.state.phase is Phase.ROLLED_BACK and c.state.stable == "stable"
    assert routing.last == ("stable", {"canary": 0.0}, None)


def test_standby_released_after_the_window(store: Store) -> None:
    cfg = config("[{weight: 50}]", fast_rollback_window_s=100)
    c, _, _, clock = make(store, cfg)
    c.act("promote", full=True)
    clock.now += 101
    c.tick()
    assert c.state.previous_stable is None
    assert store.list_events("r1")[-1]["kind"] == "standby_released"
    with pytest.raises(InvalidAction, match="window"):
        c.act("rollback")


def test_inconclusive_too_long_pauses_for_a_human(store: Store) -> None:
    c, judge, _, clock = make(store, config("[{weight: 5}, {weight: 50}]", max_hold_s=30))
    judge.decision = Decision.HOLD
    c.tick()
    clock.now += 31
    c.tick()
    assert c.state.phase is Phase.PAUSED and "inconclusive" in c.state.reason


def test_a_new_candidate_starts_a_new_rollout(store: Store) -> None:
    c, _, _, _ = make(store, config("[{weight: 5}]"))
    c.act("abort")
    other = parse_config(
        """
name: r1
versions:
  stable: {url: "http://127.0.0.1:1/v1", model: a}
  canary2: {url: "http://127.0.0.1:3/v1", model: c}
stable: stable
candidate: canary2
strategy: {steps: [{weight: 1}]}
""",
        env={},
    )
    c2, _, _, _ = make(store, other)
    assert c2.state.candidate == "canary2" and c2.state.phase is Phase.PROGRESSING


def strategy(kind: str, extra: str = "") -> RolloutConfig:
    return parse_config(
        f"""
name: r1
versions:
  stable: {{url: "http://127.0.0.1:1/v1", model: a}}
  canary: {{url: "http://127.0.0.1:2/v1", model: b}}
stable: stable
candidate: canary
strategy: {{type: {kind}{extra}}}
""",
        env={},
    )


def test_blue_green_preview_gets_no_users_and_switch_needs_passing_analysis(store: Store) -> None:
    c, judge, routing, _ = make(store, strategy("blue_green"))
    assert routing.last == ("stable", {"canary": 0.0}, 0)
    with pytest.raises(InvalidAction, match="pre-promotion analysis"):
        c.act("switch")
    judge.decision = Decision.HOLD
    c.tick()
    with pytest.raises(InvalidAction, match="has not passed"):
        c.act("switch")
    judge.decision = Decision.ADVANCE
    c.tick()
    assert c.state.phase is Phase.PROGRESSING  # never switches by itself
    c.act("switch", actor="bob")
    assert c.state.phase is Phase.PROMOTED and routing.last == ("canary", {}, None)
    c.act("rollback")
    assert routing.last == ("stable", {"canary": 0.0}, None)


def test_blue_green_forced_switch_is_audited(store: Store) -> None:
    c, _, _, _ = make(store, strategy("blue_green"))
    c.act("switch", actor="carol", full=True, reason="hotfix")
    event = store.list_events("r1")[-1]
    assert (
        event["kind"] == "promoted" and event["actor"] == "carol" and "hotfix" in event["message"]
    )


def test_switch_is_refused_for_canary(store: Store) -> None:
    c, _, _, _ = make(store, config("[{weight: 5}]"))
    with pytest.raises(InvalidAction, match="blue_green"):
        c.act("switch")


def test_shadow_mirrors_then_completes_without_exposure(store: Store) -> None:
    c, _, routing, clock = make(
        store, strategy("shadow", ", shadow: {sample_rate: 0.2, requests: 50}")
    )
    assert routing.last == ("stable", {"canary": 0.0}, 0) and routing.shadow == ("canary", 0.2)
    with pytest.raises(InvalidAction, match="does not serve users"):
        c.act("promote")
    base = store.count_interactions()
    store.insert_interactions(
        [
            InteractionRecord(
                f"s{base + i}", clock.now, "canary", "chat.completions", 200, 5.0, shadow=True
            )
            for i in range(50)
        ]
    )
    c.tick()
    assert c.state.phase is Phase.COMPLETED and routing.shadow is None
    assert routing.last[1] == {"canary": 0.0}


def test_ab_without_data_never_decides(store: Store) -> None:
    c, _, routing, clock = make(store, strategy("ab", ", ab: {min_samples: 10}"))
    assert routing.last[1] == {"canary": 50.0}
    for _ in range(3):
        clock.now += 10
        c.tick()
    assert c.state.phase is Phase.PROGRESSING and c.state.result is None
