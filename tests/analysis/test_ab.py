from __future__ import annotations

import json
import math

import numpy as np
import pytest

from saferollout.analysis import (
    ABDecision,
    AnalysisError,
    MeanStats,
    MetricData,
    Proportion,
    ab_report,
    sample_ratio_mismatch,
)


def _metrics() -> dict[str, MetricData]:
    rng = np.random.default_rng(0)
    return {
        "violation": MetricData(Proportion(50_000, 400), Proportion(50_000, 600)),
        "latency": MetricData(
            MeanStats.from_values(rng.normal(1.0, 0.3, 5_000)),
            MeanStats.from_values(rng.normal(1.0, 0.3, 5_000)),
        ),
        "rating": MetricData(
            MeanStats.from_values(rng.normal(4.2, 1.0, 5_000)),
            MeanStats.from_values(rng.normal(4.0, 1.0, 5_000)),
        ),
    }


def test_rows_and_decisions() -> None:
    report = ab_report(_metrics(), lower_is_worse=frozenset({"rating"}))
    rows = {r.metric: r for r in report.rows}
    assert rows["violation"].kind == "rate"
    assert rows["violation"].decision is ABDecision.CANDIDATE_BETTER
    assert rows["violation"].lift == pytest.approx(400 / 600 - 1)
    assert rows["latency"].decision is ABDecision.INCONCLUSIVE
    assert rows["rating"].decision is ABDecision.CANDIDATE_BETTER
    assert report.decision is ABDecision.CANDIDATE_BETTER


def test_always_valid_intervals_are_wider_and_contain_the_estimate() -> None:
    report = ab_report(_metrics())
    for row in report.rows:
        assert row.difference_always_valid_interval.width > row.difference_fixed_interval.width
        assert row.difference_always_valid_interval.contains(row.difference)
        for arm in (row.candidate, row.stable):
            assert arm.always_valid_interval.width > arm.fixed_interval.width
            assert arm.always_valid_interval.contains(arm.estimate)


def test_rate_p_value_and_lift_interval_agree() -> None:
    for c, s in ((400, 600), (560, 600), (600, 600)):
        metrics = {"v": MetricData(Proportion(50_000, c), Proportion(50_000, s))}
        row = ab_report(metrics).rows[0]
        excludes_zero = not row.lift_always_valid_interval.contains(0.0)
        assert excludes_zero == (row.always_valid_p_value <= 0.05)


def test_fixed_p_value_is_smaller_than_always_valid() -> None:
    row = ab_report(_metrics()).rows[0]
    assert row.p_value < row.always_valid_p_value


def test_worse_wins_over_better() -> None:
    metrics = _metrics()
    metrics["errors"] = MetricData(Proportion(50_000, 900), Proportion(50_000, 500))
    assert ab_report(metrics).decision is ABDecision.CANDIDATE_WORSE


def test_srm_invalidates_every_decision() -> None:
    srm = sample_ratio_mismatch([60_000, 40_000], [0.5, 0.5])
    report = ab_report(_metrics(), srm=srm)
    assert report.decision is ABDecision.INVALID
    assert {r.decision for r in report.rows} == {ABDecision.INVALID}


def test_empty_arms_are_nodata() -> None:
    metrics = {
        "v": MetricData(Proportion(), Proportion(100, 1)),
        "l": MetricData(MeanStats(), MeanStats.from_values([1.0, 2.0])),
    }
    report = ab_report(metrics)
    assert {r.decision for r in report.rows} == {ABDecision.NODATA}
    assert report.decision is ABDecision.NODATA
    assert ab_report({}).decision is ABDecision.NODATA


def test_zero_events_keep_intervals_finite_where_they_can() -> None:
    row = ab_report({"v": MetricData(Proportion(1_000, 0), Proportion(1_000, 3))}).rows[0]
    assert row.lift == -1.0
    assert math.isfinite(row.lift_fixed_interval.upper)


def test_bad_input() -> None:
    with pytest.raises(AnalysisError):
        ab_report({"v": MetricData(Proportion(10, 1))})
    with pytest.raises(AnalysisError):
        ab_report(
            {"v": MetricData(Proportion(10, 1), Proportion(10, 1))},
            lower_is_worse=frozenset({"v"}),
        )


def test_report_is_json_ready() -> None:
    srm = sample_ratio_mismatch([50_000, 50_000], [0.5, 0.5])
    report = ab_report(_metrics(), srm=srm, lower_is_worse=frozenset({"rating"}))
    payload = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert payload["decision"] == "candidate_better"
    assert payload["srm"]["mismatch"] is False
    assert {r["metric"] for r in payload["rows"]} == {"violation", "latency", "rating"}
