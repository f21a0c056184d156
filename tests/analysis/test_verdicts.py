from __future__ import annotations

import json

import numpy as np
import pytest

from saferollout.analysis import (
    AnalysisError,
    Evidence,
    LimitStatus,
    MeanStats,
    MetricData,
    MetricSpec,
    MetricVerdict,
    Proportion,
    StepDecision,
    Verdict,
    assess_metric,
    decide_step,
    evaluate_step,
    sample_ratio_mismatch,
)

SPEC = MetricSpec("violation", min_samples=100, min_duration=60.0, failure_limit=2)


def _ev(**kwargs: object) -> Evidence:
    base: dict[str, object] = {"candidate_n": 1_000, "stable_n": 9_000, "elapsed": 120.0}
    base.update(kwargs)
    return Evidence(**base)  # type: ignore[arg-type]


# ----------------------------------------------------------- assess_metric, case by case


def test_no_candidate_data_is_nodata() -> None:
    assert assess_metric(SPEC, _ev(candidate_n=0))[0] is Verdict.NODATA


def test_no_stable_data_is_nodata_for_a_comparison() -> None:
    assert assess_metric(SPEC, _ev(stable_n=0))[0] is Verdict.NODATA


def test_no_stable_data_does_not_hide_a_breached_limit() -> None:
    spec = MetricSpec("v", hard_limit=0.02, critical=True)
    verdict, _, _ = assess_metric(spec, _ev(stable_n=0, limit=LimitStatus.BREACHED))
    assert verdict is Verdict.FAIL


def test_warming_up_on_samples_is_inconclusive() -> None:
    verdict, reason, count = assess_metric(SPEC, _ev(candidate_n=50))
    assert verdict is Verdict.INCONCLUSIVE
    assert "warming up" in reason and count == 0


def test_warming_up_on_stable_samples_too() -> None:
    assert assess_metric(SPEC, _ev(stable_n=99))[0] is Verdict.INCONCLUSIVE


def test_warming_up_on_duration_is_inconclusive() -> None:
    verdict, reason, _ = assess_metric(SPEC, _ev(elapsed=10.0))
    assert verdict is Verdict.INCONCLUSIVE and "elapsed" in reason


def test_harm_during_warm_up_is_not_counted() -> None:
    assert assess_metric(SPEC, _ev(candidate_n=50, harmful=True))[2] == 0


def test_first_failure_under_the_limit_is_inconclusive() -> None:
    verdict, reason, count = assess_metric(SPEC, _ev(harmful=True), previous_failures=0)
    assert verdict is Verdict.INCONCLUSIVE
    assert count == 1 and "1/2" in reason


def test_consecutive_failures_reach_the_limit_and_fail() -> None:
    verdict, _, count = assess_metric(SPEC, _ev(harmful=True), previous_failures=1)
    assert verdict is Verdict.FAIL and count == 2


def test_a_passing_tick_resets_the_failure_count() -> None:
    assert assess_metric(SPEC, _ev(), previous_failures=1)[2] == 0


def test_critical_fails_at_once_even_while_warming_up() -> None:
    spec = MetricSpec("pii", critical=True, min_samples=1_000, failure_limit=5)
    verdict, reason, _ = assess_metric(spec, _ev(candidate_n=20, harmful=True))
    assert verdict is Verdict.FAIL and "critical" in reason


def test_breached_hard_limit_fails() -> None:
    spec = MetricSpec("v", hard_limit=0.02)
    verdict, reason, _ = assess_metric(spec, _ev(limit=LimitStatus.BREACHED))
    assert verdict is Verdict.FAIL and "hard limit" in reason


def test_hard_limit_must_be_shown_compliant_to_pass() -> None:
    spec = MetricSpec("v", hard_limit=0.02)
    assert assess_metric(spec, _ev(limit=LimitStatus.UNDETERMINED))[0] is Verdict.INCONCLUSIVE
    assert assess_metric(spec, _ev(limit=LimitStatus.COMPLIANT))[0] is Verdict.PASS


def test_noninferiority_must_be_shown_to_pass() -> None:
    spec = MetricSpec("v", noninferiority_margin=0.2)
    assert assess_metric(spec, _ev(noninferior=False))[0] is Verdict.INCONCLUSIVE
    assert assess_metric(spec, _ev(noninferior=True))[0] is Verdict.PASS


def test_no_harm_after_warm_up_passes() -> None:
    verdict, reason, count = assess_metric(SPEC, _ev())
    assert (verdict, count) == (Verdict.PASS, 0)
    assert reason == "all requirements met"


def test_srm_freezes_comparisons() -> None:
    verdict, reason, _ = assess_metric(SPEC, _ev(harmful=True, frozen=True), 5)
    assert verdict is Verdict.INCONCLUSIVE and "sample ratio" in reason


def test_srm_does_not_freeze_hard_limits() -> None:
    spec = MetricSpec("v", hard_limit=0.02)
    evidence = _ev(limit=LimitStatus.BREACHED, frozen=True)
    assert assess_metric(spec, evidence)[0] is Verdict.FAIL


def test_limit_only_metric_ignores_stable() -> None:
    spec = MetricSpec("v", compare=False, hard_limit=0.02)
    evidence = _ev(stable_n=None, limit=LimitStatus.COMPLIANT, harmful=True)
    assert assess_metric(spec, evidence)[0] is Verdict.PASS


def test_spec_validation() -> None:
    with pytest.raises(AnalysisError):
        MetricSpec("")
    with pytest.raises(AnalysisError):
        MetricSpec("x", failure_limit=0)
    with pytest.raises(AnalysisError):
        MetricSpec("x", compare=False)


def test_verdict_enum_behaviour() -> None:
    assert [v.blocks_advance for v in Verdict] == [False, True, True, True]
    assert [v.triggers_rollback for v in Verdict] == [False, True, False, False]


# ----------------------------------------------------------------------- decide_step


def _verdict(name: str, verdict: Verdict, dry_run: bool = False) -> MetricVerdict:
    return MetricVerdict(name, verdict, "", 0, critical=False, dry_run=dry_run)


def test_any_failure_rolls_back() -> None:
    decision, reason = decide_step([_verdict("a", Verdict.PASS), _verdict("b", Verdict.FAIL)])
    assert decision is StepDecision.ROLLBACK and "b" in reason


def test_anything_short_of_pass_holds() -> None:
    for v in (Verdict.INCONCLUSIVE, Verdict.NODATA):
        assert decide_step([_verdict("a", Verdict.PASS), _verdict("b", v)])[0] is StepDecision.HOLD


def test_all_pass_advances() -> None:
    assert decide_step([_verdict("a", Verdict.PASS)])[0] is StepDecision.ADVANCE


def test_dry_run_is_ignored() -> None:
    verdicts = [_verdict("a", Verdict.PASS), _verdict("b", Verdict.FAIL, dry_run=True)]
    assert decide_step(verdicts)[0] is StepDecision.ADVANCE


def test_no_metrics_holds() -> None:
    assert decide_step([])[0] is StepDecision.HOLD
    assert decide_step([_verdict("b", Verdict.PASS, dry_run=True)])[0] is StepDecision.HOLD


def test_srm_holds_unless_something_failed() -> None:
    assert decide_step([_verdict("a", Verdict.PASS)], frozen=True)[0] is StepDecision.HOLD
    assert decide_step([_verdict("a", Verdict.FAIL)], frozen=True)[0] is StepDecision.ROLLBACK


# ---------------------------------------------------------------------- evaluate_step


def _healthy() -> dict[str, MetricData]:
    return {
        "violation": MetricData(Proportion(10_000, 100), Proportion(90_000, 900)),
        "latency": MetricData(
            MeanStats(10_000, 10_000 * 1.0, 10_000 * 1.04),
            MeanStats(90_000, 90_000 * 1.0, 90_000 * 1.04),
        ),
    }


SPECS = [
    MetricSpec("violation", hard_limit=0.02),
    MetricSpec("latency", tolerance=0.1),
]


def test_healthy_step_advances() -> None:
    result = evaluate_step(SPECS, _healthy(), elapsed=600.0)
    assert result.decision is StepDecision.ADVANCE
    assert [v.verdict for v in result.verdicts] == [Verdict.PASS, Verdict.PASS]
    assert result.failure_counts == {"violation": 0, "latency": 0}


def test_harmful_step_rolls_back() -> None:
    data = _healthy()
    data["violation"] = MetricData(Proportion(10_000, 300), Proportion(90_000, 900))
    result = evaluate_step(SPECS, data, elapsed=600.0)
    assert result.decision is StepDecision.ROLLBACK
    assert result.verdict("violation").verdict is Verdict.FAIL
    assert result.failure_counts["violation"] == 1


def test_failure_counts_carry_over_between_ticks() -> None:
    specs = [MetricSpec("violation", failure_limit=3)]
    data = {"violation": MetricData(Proportion(10_000, 300), Proportion(90_000, 900))}
    counts: dict[str, int] = {}
    decisions = []
    for _ in range(3):
        result = evaluate_step(specs, data, elapsed=600.0, failure_counts=counts)
        counts = dict(result.failure_counts)
        decisions.append(result.decision)
    assert decisions == [StepDecision.HOLD, StepDecision.HOLD, StepDecision.ROLLBACK]


def test_missing_data_is_nodata_and_holds() -> None:
    result = evaluate_step(SPECS, {"latency": _healthy()["latency"]}, elapsed=600.0)
    assert result.verdict("violation").verdict is Verdict.NODATA
    assert result.decision is StepDecision.HOLD


def test_holm_adjusts_across_guardrails() -> None:
    """A borderline harm p-value fails alone but not among five guardrails."""
    borderline = MetricData(Proportion(10_000, 150), Proportion(90_000, 1_000))
    quiet = MetricData(Proportion(10_000, 100), Proportion(90_000, 900))
    alone = evaluate_step([MetricSpec("a")], {"a": borderline}, elapsed=600.0)
    raw = alone.verdict("a").comparison
    assert raw is not None and 0.01 < raw.harm_p_value <= 0.05
    specs = [MetricSpec(n) for n in "abcde"]
    data = {"a": borderline} | {n: quiet for n in "bcde"}
    family = evaluate_step(specs, data, elapsed=600.0)
    assert family.verdict("a").harm_p_value_adjusted == pytest.approx(5 * raw.harm_p_value)
    assert family.verdict("a").verdict is not Verdict.FAIL
    # Out of the family (guardrail=False) it fails again.
    specs[0] = MetricSpec("a", guardrail=False)
    assert evaluate_step(specs, data, elapsed=600.0).verdict("a").verdict is Verdict.FAIL


def test_srm_freezes_the_step() -> None:
    srm = sample_ratio_mismatch([13_000, 87_000], [0.1, 0.9])
    assert srm.mismatch
    data = _healthy()
    data["violation"] = MetricData(Proportion(10_000, 300), Proportion(90_000, 900))
    specs = [MetricSpec("violation"), MetricSpec("latency")]  # comparisons only
    result = evaluate_step(specs, data, elapsed=600.0, srm=srm)
    assert result.frozen
    assert result.decision is StepDecision.HOLD
    assert "sample ratio" in result.reason
    assert result.verdict("violation").verdict is Verdict.INCONCLUSIVE
    # A hard limit judges the candidate alone, so it still rolls back.
    with_limit = evaluate_step(SPECS, data, elapsed=600.0, srm=srm)
    assert with_limit.decision is StepDecision.ROLLBACK


def test_rates_must_count_the_bad_outcome() -> None:
    with pytest.raises(AnalysisError):
        evaluate_step([MetricSpec("violation", higher_is_worse=False)], _healthy(), elapsed=1.0)


def test_duplicate_names_rejected() -> None:
    with pytest.raises(AnalysisError):
        evaluate_step([MetricSpec("v"), MetricSpec("v")], {}, elapsed=1.0)


def test_mixed_statistics_rejected() -> None:
    with pytest.raises(AnalysisError):
        MetricData(Proportion(10, 1), MeanStats.from_values([1.0, 2.0]))  # type: ignore[arg-type]


def test_result_is_json_ready() -> None:
    result = evaluate_step(SPECS, _healthy(), elapsed=600.0)
    text = json.dumps(result.to_dict(), allow_nan=False)
    payload = json.loads(text)
    assert payload["decision"] == "advance"
    assert payload["verdicts"][0]["comparison"]["harmful"] is False
    assert result.verdicts[0].to_dict()["name"] == "violation"


def test_a_step_over_a_million_records_decides_on_sums() -> None:
    """Analysis works on sums, so 10^6 records reduce to a handful of numbers.
    (How fast that is lives in bench/detection.py, not in a timed test.)"""
    rng = np.random.default_rng(0)
    n = 1_000_000
    is_c = rng.random(n) < 0.1
    flags = rng.random(n) < 0.01
    latency = rng.lognormal(0.0, 0.5, n)
    data = {
        "violation": MetricData(
            Proportion.from_flags(flags[is_c]), Proportion.from_flags(flags[~is_c])
        ),
        "latency": MetricData(
            MeanStats.from_values(latency[is_c]), MeanStats.from_values(latency[~is_c])
        ),
    }
    srm = sample_ratio_mismatch([int(is_c.sum()), int((~is_c).sum())], [0.1, 0.9])
    specs = [
        MetricSpec("violation", hard_limit=0.02, noninferiority_margin=0.5),
        MetricSpec("latency", tolerance=0.1, noninferiority_margin=0.1),
    ]
    result = evaluate_step(specs, data, elapsed=600.0, srm=srm)
    assert result.decision is StepDecision.ADVANCE
    assert result.verdict("violation").comparison is not None


def test_errors_name_the_metric() -> None:
    data = {"violation": MetricData(Proportion(100, 1), Proportion(900, 9))}
    with pytest.raises(AnalysisError, match=r"^violation: a rate limit"):
        evaluate_step([MetricSpec("violation", hard_limit=2.0)], data, elapsed=1.0)
