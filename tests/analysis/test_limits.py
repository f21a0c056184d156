from __future__ import annotations

import math

import numpy as np
import pytest

from saferollout.analysis import (
    AnalysisError,
    LimitStatus,
    MeanStats,
    Proportion,
    beta_binomial_log_e,
    check_hard_limit,
)


def test_breach_needs_the_lower_bound_above_the_limit() -> None:
    result = check_hard_limit(Proportion(2_000, 100), 0.02)  # 5% observed
    assert result.status is LimitStatus.BREACHED
    assert result.status.fails
    assert result.bounds.lower > 0.02
    assert result.breach_p_value <= 0.05


def test_raw_rate_over_the_limit_is_not_yet_a_breach() -> None:
    result = check_hard_limit(Proportion(100, 3), 0.02)  # raw 3% on 100 requests
    assert result.estimate == pytest.approx(0.03)
    assert result.status is LimitStatus.UNDETERMINED
    assert not result.status.fails


def test_compliance_needs_the_upper_bound_at_or_below_the_limit() -> None:
    early = check_hard_limit(Proportion(300, 3), 0.02)
    later = check_hard_limit(Proportion(5_000, 50), 0.02)
    assert early.status is LimitStatus.UNDETERMINED  # 1% but too few requests
    assert later.status is LimitStatus.COMPLIANT
    assert later.bounds.upper <= 0.02


def test_no_data_is_undetermined() -> None:
    result = check_hard_limit(Proportion(), 0.02)
    assert result.status is LimitStatus.UNDETERMINED
    assert result.breach_p_value == 1.0 and result.compliance_p_value == 1.0


def test_statuses_agree_with_bounds() -> None:
    for n, x in ((500, 30), (5_000, 50), (800, 16), (20_000, 390)):
        result = check_hard_limit(Proportion(n, x), 0.02)
        if result.status is LimitStatus.BREACHED:
            assert result.bounds.lower > 0.02 - 1e-9
        if result.status is LimitStatus.COMPLIANT:
            assert result.bounds.upper <= 0.02 + 1e-9


def test_mean_limit_both_directions() -> None:
    rng = np.random.default_rng(0)
    slow = MeanStats.from_values(rng.normal(2.6, 0.5, 2_000))
    assert check_hard_limit(slow, 2.0).status is LimitStatus.BREACHED
    fast = MeanStats.from_values(rng.normal(1.0, 0.5, 2_000))
    assert check_hard_limit(fast, 2.0).status is LimitStatus.COMPLIANT
    ratings = MeanStats.from_values(rng.normal(3.0, 1.0, 2_000))
    floor = check_hard_limit(ratings, 3.5, higher_is_worse=False)
    assert floor.status is LimitStatus.BREACHED
    assert floor.bounds.upper < 3.5


def test_mean_limit_without_variance() -> None:
    result = check_hard_limit(MeanStats.from_values([5.0]), 2.0)
    assert result.status is LimitStatus.UNDETERMINED
    assert result.bounds.width == math.inf


@pytest.mark.parametrize("limit", [0.0, 1.0, -0.1])
def test_rate_limit_must_be_inside_unit_interval(limit: float) -> None:
    with pytest.raises(AnalysisError):
        check_hard_limit(Proportion(10, 1), limit)


def test_rate_limits_are_upper_limits() -> None:
    with pytest.raises(AnalysisError):
        check_hard_limit(Proportion(10, 1), 0.5, higher_is_worse=False)


def test_hard_limit_false_breach_rate_under_peeking() -> None:
    """Candidate exactly at the limit, checked every 10 requests up to 10,000: the
    breach test (vectorised here, spot-checked against check_hard_limit) fires in at
    most alpha of runs."""
    rng = np.random.default_rng(9)
    runs = 500
    n = np.arange(10, 10_001, 10)
    cum = (rng.random((runs, 10_000)) < 0.02).cumsum(axis=1)[:, 9::10]
    log_e = beta_binomial_log_e(n, cum, 0.02, alternative="greater")
    assert (log_e >= math.log(20)).any(axis=1).mean() <= 0.05
    for i, j in ((0, 10), (3, 500), (7, 999)):
        result = check_hard_limit(Proportion(int(n[j]), int(cum[i, j])), 0.02)
        assert result.breach_p_value == pytest.approx(min(1.0, math.exp(-log_e[i, j])))
