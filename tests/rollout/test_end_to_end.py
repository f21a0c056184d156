"""A rollout through the real parts: gateway, scoring worker process, analysis, controller."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from saferollout.cli._runtime import Runtime
from saferollout.config import RolloutConfig, parse_config
from saferollout.rollout import Phase
from saferollout.simulation import (
    BackendHandle,
    Profile,
    TrafficConfig,
    TrafficResult,
    run_traffic,
    start_backend,
)
from saferollout.store import Store


@pytest.fixture
def versions(request: pytest.FixtureRequest) -> Iterator[tuple[BackendHandle, BackendHandle]]:
    stable_profile, candidate_profile = request.param
    with (
        start_backend(stable_profile, latency_ms=2, seed=1) as stable,
        start_backend(candidate_profile, latency_ms=2, seed=2) as candidate,
    ):
        yield stable, candidate


def rollout_config(
    stable: BackendHandle, candidate: BackendHandle, db: Path, steps: str
) -> RolloutConfig:
    return parse_config(
        f"""
name: e2e
versions:
  stable: {{url: "{stable.base_url}", model: v1}}
  candidate: {{url: "{candidate.base_url}", model: v2}}
stable: stable
candidate: candidate
strategy: {{type: canary, interval_s: 0.5, steps: {steps}}}
storage: {{url: "sqlite:///{db}"}}
server: {{flush_interval_s: 0.1}}
triggers:
  - {{metric: harmful_compliance_rate, critical: true, min_samples: 100}}
  - {{metric: pii_leak_rate, critical: true, min_samples: 100}}
  - {{metric: error_rate, min_samples: 100}}
""",
        env={},
    )


def drive(
    url: str,
    until: Callable[[], bool],
    *,
    batches: int,
    requests: int,
    harmful_share: float,
    first_seed: int = 0,
    check: Callable[[TrafficResult], None] | None = None,
    headers: dict[str, str] | None = None,
) -> int:
    """Send traffic in batches until `until()` holds (or the batches run out);
    `check` sees every batch. Returns how many requests were sent."""
    sent = 0
    for seed in range(first_seed, first_seed + batches):
        result = run_traffic(
            TrafficConfig(
                base_url=url,
                requests=requests,
                harmful_share=harmful_share,
                concurrency=16,
                seed=seed,
                headers=headers or {},
            )
        )
        sent += len(result.outcomes)
        if check is not None:
            check(result)
        if until():
            break
    return sent


def wait_for(predicate, timeout: float = 60.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("versions", [("stable", "regressed")], indirect=True)
def test_regressed_candidate_is_rolled_back_by_itself(
    versions: tuple[BackendHandle, BackendHandle], tmp_path: Path
) -> None:
    stable, candidate = versions
    cfg = rollout_config(stable, candidate, tmp_path / "e2e.db", "[{weight: 50, pause: {}}]")
    store = Store(cfg.storage.url)
    runtime = Runtime.build(cfg, store)
    with runtime:
        gw = runtime.start_in_thread()

        # Half the prompts harmful, so the regression shows within a few thousand requests.
        def answered(result: TrafficResult) -> None:
            # Every request was answered (the profiles fail 0.1% for real).
            assert all(o.status != 0 for o in result.outcomes)
            assert sum(o.status == 200 for o in result.outcomes) >= 0.98 * len(result.outcomes)

        sent = drive(
            gw.url,
            lambda: runtime.controller.state.phase is Phase.ROLLED_BACK,
            batches=8,
            requests=500,
            harmful_share=0.5,
            check=answered,
        )
        assert wait_for(lambda: runtime.controller.state.phase is Phase.ROLLED_BACK, 30)
        state = runtime.controller.state
        assert "harmful_compliance_rate" in state.reason or "pii_leak_rate" in state.reason
        # After the rollback, everyone is on stable, sessions included.
        after = run_traffic(TrafficConfig(base_url=gw.url, requests=200, concurrency=8, seed=99))
        assert {o.version for o in after.outcomes} == {"stable"}
        sent += len(after.outcomes)
    # Every request recorded once, before, during and after the rollback.
    assert store.count_interactions() == sent
    events = [e["kind"] for e in store.list_events("e2e")]
    assert events[0] == "rollout_started" and "rolled_back" in events
    assert store.sessions_of("candidate")  # the conversations that met the bad version
    store.close()


@pytest.mark.parametrize("versions", [("stable", "identical")], indirect=True)
def test_identical_candidate_advances_and_is_promoted(
    versions: tuple[BackendHandle, BackendHandle], tmp_path: Path
) -> None:
    stable, candidate = versions
    cfg = rollout_config(
        stable,
        candidate,
        tmp_path / "e2e.db",
        "[{weight: 20, pause: {requests: 150}}, {weight: 50, pause: {requests: 300}}]",
    )
    store = Store(cfg.storage.url)
    runtime = Runtime.build(cfg, store)
    with runtime:
        gw = runtime.start_in_thread()
        drive(
            gw.url,
            lambda: runtime.controller.state.phase.finished,
            batches=12,
            requests=400,
            harmful_share=0.2,
        )
        assert wait_for(lambda: runtime.controller.state.phase.finished, 30)
        assert runtime.controller.state.phase is Phase.PROMOTED, runtime.controller.state.reason
        result = run_traffic(TrafficConfig(base_url=gw.url, requests=50, concurrency=4, seed=77))
        assert {o.version for o in result.outcomes} == {"candidate"}
    kinds = [e["kind"] for e in store.list_events("e2e")]
    assert kinds.count("step_advanced") == 1 and kinds[-1] == "promoted"
    store.close()


def strategy_config(
    stable: BackendHandle, candidate: BackendHandle, db: Path, strategy: str
) -> RolloutConfig:
    return parse_config(
        f"""
name: e2e
versions:
  stable: {{url: "{stable.base_url}", model: v1}}
  candidate: {{url: "{candidate.base_url}", model: v2}}
stable: stable
candidate: candidate
strategy: {strategy}
storage: {{url: "sqlite:///{db}"}}
server: {{flush_interval_s: 0.1, admin_token_env: T}}
triggers:
  - {{metric: harmful_compliance_rate, critical: true, min_samples: 100}}
  - {{metric: pii_leak_rate, critical: true, min_samples: 100}}
""",
        env={"T": "unused"},
    )


@pytest.mark.parametrize("versions", [("stable", "identical")], indirect=True)
def test_shadow_never_returns_candidate_output_and_decides(
    versions: tuple[BackendHandle, BackendHandle], tmp_path: Path
) -> None:
    stable, candidate = versions
    cfg = strategy_config(
        stable,
        candidate,
        tmp_path / "e2e.db",
        "{type: shadow, interval_s: 0.5, shadow: {sample_rate: 0.5, requests: 300}}",
    )
    store = Store(cfg.storage.url)
    runtime = Runtime.build(cfg, store, admin_token="unused")
    with runtime:
        gw = runtime.start_in_thread()

        def stable_only(result: TrafficResult) -> None:
            # Zero user exposure: every answer a client saw came from stable.
            assert {o.version for o in result.outcomes} == {"stable"}

        served = drive(
            gw.url,
            lambda: runtime.controller.state.phase.finished,
            batches=10,
            requests=300,
            harmful_share=0.2,
            check=stable_only,
        )
        assert wait_for(lambda: runtime.controller.state.phase.finished, 30)
        assert runtime.controller.state.phase is Phase.COMPLETED, runtime.controller.state.reason
    assert store.count_interactions("candidate", shadow=False) == 0
    assert store.count_interactions("stable") == served
    # Enough mirrored answers were judged, and each is a copy of a real stable
    # request of the same conversation, sampled at about the configured rate
    # until the shadow decided (mirroring stops then).
    finished = runtime.controller.state.finished_at
    assert finished is not None
    mirrors = store.list_interactions(version="candidate", limit=100_000)
    assert len(mirrors) >= 300 and all(m["shadow"] for m in mirrors)
    originals = {
        r["request_id"]: r for r in store.list_interactions(version="stable", limit=100_000)
    }
    for m in mirrors:
        original = originals[m["extra"]["mirror_of"]]
        assert original["session_id"] == m["session_id"]
    before = [r for r in originals.values() if r["created_at"] < finished]
    assert 0.35 * len(before) < len(mirrors) < 0.65 * len(before)
    store.close()


@pytest.mark.parametrize("versions", [("stable", "identical")], indirect=True)
def test_blue_green_switch_and_switch_back_after_a_regression(
    versions: tuple[BackendHandle, BackendHandle], tmp_path: Path
) -> None:
    blue, green = versions
    cfg = strategy_config(blue, green, tmp_path / "e2e.db", "{type: blue_green, interval_s: 0.3}")
    store = Store(cfg.storage.url)
    runtime = Runtime.build(cfg, store, admin_token="tok")
    preview = {"X-Rollout-Version": "candidate", "Authorization": "Bearer tok"}
    with runtime:
        gw = runtime.start_in_thread()
        ctl = runtime.controller
        users = run_traffic(
            TrafficConfig(base_url=gw.url, requests=600, harmful_share=0.3, concurrency=16, seed=1)
        )
        assert {o.version for o in users.outcomes} == {"stable"}  # the preview gets no users
        with pytest.raises(ValueError, match="pre-promotion analysis has not passed"):
            ctl.act("switch")
        for seed in range(2, 8):  # test traffic to the preview only
            probes = run_traffic(
                TrafficConfig(
                    base_url=gw.url,
                    requests=300,
                    harmful_share=0.3,
                    concurrency=16,
                    seed=seed,
                    headers=preview,
                )
            )
            assert {o.version for o in probes.outcomes} == {"candidate"}
            run_traffic(
                TrafficConfig(
                    base_url=gw.url,
                    requests=300,
                    harmful_share=0.3,
                    concurrency=16,
                    seed=100 + seed,
                )
            )
            if ctl.last_judgement is not None and ctl.last_judgement.decision.value == "advance":
                break
        assert wait_for(
            lambda: (
                ctl.last_judgement is not None and ctl.last_judgement.decision.value == "advance"
            ),
            20,
        )
        ctl.act("switch", actor="test")
        assert ctl.state.phase is Phase.PROMOTED
        after = run_traffic(TrafficConfig(base_url=gw.url, requests=100, concurrency=8, seed=50))
        assert {o.version for o in after.outcomes} == {"candidate"}  # all at once
        # The new active side regresses after the switch: vigilance switches back by itself.
        green.set_profile(Profile(name="leaky", pii_leak_rate=0.1))
        drive(
            gw.url,
            lambda: ctl.state.phase is Phase.ROLLED_BACK,
            batches=10,
            requests=400,
            harmful_share=0.5,
            first_seed=60,
        )
        assert wait_for(lambda: ctl.state.phase is Phase.ROLLED_BACK, 30), ctl.state
        assert ctl.state.stable == "stable" and "after promotion" in ctl.state.reason
        back = run_traffic(TrafficConfig(base_url=gw.url, requests=100, concurrency=8, seed=80))
        assert {o.version for o in back.outcomes} == {"stable"}
    store.close()


@pytest.mark.parametrize("versions", [("overcautious", "stable")], indirect=True)
def test_ab_reaches_a_decision_with_intervals(
    versions: tuple[BackendHandle, BackendHandle], tmp_path: Path
) -> None:
    control, variant = versions
    cfg = strategy_config(
        control,
        variant,
        tmp_path / "e2e.db",
        "{type: ab, interval_s: 0.5, ab: {primary_metric: over_refusal_rate, min_samples: 150, "
        "weights: {candidate: 50}}}",
    )
    store = Store(cfg.storage.url)
    runtime = Runtime.build(cfg, store, admin_token="unused")
    with runtime:
        gw = runtime.start_in_thread()
        ctl = runtime.controller

        def both_arms(result: TrafficResult) -> None:
            assert {o.version for o in result.outcomes} == {"stable", "candidate"}

        drive(
            gw.url,
            lambda: ctl.state.phase.finished,
            batches=10,
            requests=300,
            harmful_share=0.1,
            check=both_arms,
        )
        assert wait_for(lambda: ctl.state.phase.finished, 30)
    state = ctl.state
    assert state.phase is Phase.COMPLETED, state.reason  # no auto-promotion by default
    assert state.result is not None and state.result["winner"] == "candidate"
    row = state.result["arms"]["candidate"]
    assert row["decision"] == "candidate_better"
    assert row["candidate"]["estimate"] < row["stable"]["estimate"]
    # The decision rests on the always-valid interval of the lift (the exact test's),
    # which lies wholly below 0 and is wider than the fixed-horizon one (the price of
    # looking at every tick).
    valid, fixed = row["lift_always_valid_interval"], row["lift_fixed_interval"]
    assert valid["upper"] < 0
    assert valid["upper"] - valid["lower"] > fixed["upper"] - fixed["lower"]
    store.close()
