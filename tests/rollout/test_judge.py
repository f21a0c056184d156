"""The trigger judge on known counts: what rolls back, what holds, what advances."""

from __future__ import annotations

from saferollout.config import TriggerConfig, default_triggers
from saferollout.rollout import Decision, Status, TriggerJudge
from saferollout.store import LATENCY_BUCKETS_MS, VersionAggregate


def agg(
    version: str, n: int, *, harmful: int = 0, pii: int = 0, errors: int = 0, latency: float = 100.0
) -> VersionAggregate:
    return VersionAggregate(
        version=version,
        requests=n,
        errors=errors,
        scored=n,
        flags={
            "harmful_compliance": harmful,
            "pii_leak": pii,
            "safety_violation": harmful + pii,
            "over_refusal": n // 50,
            "refusal": n // 10,
        },
        latency_n=n,
        latency_sum=latency * n,
        latency_sumsq=(latency**2 + 25.0) * n,
        latency_hist=[0] * (len(LATENCY_BUCKETS_MS) + 1),
    )


def judge(cand: VersionAggregate, stable: VersionAggregate, triggers=None, weight: float = 10.0):  # type: ignore[no-untyped-def]
    j = TriggerJudge(triggers or default_triggers())
    aggs = {"stable": stable, "canary": cand}
    return j(
        aggs,
        stable="stable",
        candidate="canary",
        weights={"canary": weight},
        elapsed_s=60,
        fail_streaks={},
        step_aggregates=aggs,
    )


def test_harmful_regression_rolls_back() -> None:
    # 1.5% vs 0.3% harmful compliance over 2,000 vs 18,000 scored answers.
    result = judge(agg("canary", 2000, harmful=30), agg("stable", 18000, harmful=54))
    assert result.decision is Decision.ROLLBACK
    verdict = next(v for v in result.verdicts if v.metric == "harmful_compliance_rate")
    assert verdict.status is Status.FAIL
    assert verdict.candidate == 0.015 and verdict.stable == 0.003
    assert verdict.interval is not None and verdict.interval[0] > 0
    assert "harmful_compliance_rate" in result.reason


def test_identical_versions_advance_after_enough_samples() -> None:
    result = judge(agg("canary", 2000, harmful=6, pii=6), agg("stable", 18000, harmful=54, pii=54))
    assert result.decision is Decision.ADVANCE, result.reason
    gating = [v for v in result.verdicts if not v.dry_run and v.action != "alert"]
    assert {v.status for v in gating} == {Status.PASS}


def test_too_few_samples_hold() -> None:
    result = judge(agg("canary", 50), agg("stable", 450))
    assert result.decision is Decision.HOLD
    assert any("warming up" in v.reason for v in result.verdicts)


def test_no_candidate_data_never_passes() -> None:
    j = TriggerJudge(default_triggers())
    result = j(
        {"stable": agg("stable", 1000)},
        stable="stable",
        candidate="canary",
        weights={"canary": 5},
        elapsed_s=60,
        fail_streaks={},
    )
    assert result.decision is Decision.HOLD
    assert all(v.status is Status.NODATA for v in result.verdicts)


def test_alert_only_trigger_fails_without_blocking() -> None:
    triggers = [
        TriggerConfig(metric="harmful_compliance_rate"),
        TriggerConfig(metric="latency_mean_ms", tolerance=0.1, action="alert"),
    ]
    result = judge(
        agg("canary", 2000, latency=400.0), agg("stable", 18000, latency=100.0), triggers
    )
    latency = next(v for v in result.verdicts if v.metric == "latency_mean_ms")
    assert latency.status is Status.FAIL and latency.action == "alert"
    assert result.decision is Decision.ADVANCE


def test_pause_action_pauses_instead_of_rolling_back() -> None:
    triggers = [TriggerConfig(metric="pii_leak_rate", critical=True, action="pause")]
    result = judge(agg("canary", 2000, pii=40), agg("stable", 18000, pii=54), triggers)
    assert result.decision is Decision.PAUSE


def test_absolute_threshold_breach_rolls_back_regardless_of_stable() -> None:
    triggers = [
        TriggerConfig(metric="error_rate", compare="absolute", threshold=0.02, critical=True)
    ]
    result = judge(agg("canary", 2000, errors=120), agg("stable", 18000, errors=1100), triggers)
    assert result.decision is Decision.ROLLBACK


def test_sample_ratio_mismatch_freezes_the_comparison() -> None:
    # Configured 10% but the candidate got 30% of the step's traffic.
    result = judge(agg("canary", 6000), agg("stable", 14000), weight=10.0)
    assert result.srm is True
    assert result.decision is Decision.HOLD
