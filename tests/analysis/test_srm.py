from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from saferollout.analysis import AnalysisError, sample_ratio_mismatch


def test_chi_squared_matches_scipy() -> None:
    counts, weights = [1_050, 8_950], [0.1, 0.9]
    result = sample_ratio_mismatch(counts, weights)
    ref = stats.chisquare(counts, f_exp=[1_000, 9_000])
    assert result.chi_squared == pytest.approx(ref.statistic)
    assert result.chi_squared_p_value == pytest.approx(ref.pvalue)


def test_three_arms_chi_squared_matches_scipy() -> None:
    counts = {"stable": 4_900, "candidate": 2_600, "shadow": 2_500}
    weights = {"stable": 2, "candidate": 1, "shadow": 1}  # any positive scale
    result = sample_ratio_mismatch(counts, weights)
    ordered = [counts[a] for a in result.arms]
    expected = [10_000 * weights[a] / 4 for a in result.arms]
    ref = stats.chisquare(ordered, f_exp=expected)
    assert result.chi_squared == pytest.approx(ref.statistic)
    assert result.expected_shares == pytest.approx(tuple(weights[a] / 4 for a in result.arms))


def test_sequential_bayes_factor_is_beta_binomial_over_binomial() -> None:
    """Two arms: the Dirichlet-multinomial Bayes factor is a beta-binomial pmf over a
    binomial pmf (the multinomial coefficients cancel)."""
    x, n, w, scale = 1_080, 10_000, 0.1, 0.1
    concentration = 1 / (scale**2 * w * (1 - w))
    bf = stats.betabinom.pmf(x, n, concentration * w, concentration * (1 - w)) / stats.binom.pmf(
        x, n, w
    )
    result = sample_ratio_mismatch([x, n - x], [w, 1 - w], scale=scale)
    assert result.sequential_p_value == pytest.approx(min(1.0, 1 / bf), rel=1e-8)


def test_balanced_traffic_is_no_mismatch() -> None:
    result = sample_ratio_mismatch({"a": 5_020, "b": 4_980}, {"a": 0.5, "b": 0.5})
    assert not result.mismatch
    assert result.observed_shares == pytest.approx((0.502, 0.498))


def test_clear_mismatch_is_flagged() -> None:
    result = sample_ratio_mismatch([1_300, 8_700], [0.1, 0.9])
    assert result.mismatch
    assert result.sequential_p_value < 1e-6


def test_traffic_to_a_zero_weight_arm_is_a_mismatch() -> None:
    result = sample_ratio_mismatch([100, 3], [1.0, 0.0])
    assert result.mismatch and result.chi_squared == math.inf


def test_no_traffic_is_no_evidence() -> None:
    result = sample_ratio_mismatch([0, 0], [0.5, 0.5])
    assert result.sequential_p_value == 1.0 and not result.mismatch


@pytest.mark.parametrize(
    ("counts", "weights"),
    [
        ([1, 2], [1.0]),
        ([1], [1.0]),
        ([-1, 2], [0.5, 0.5]),
        ([1.5, 2], [0.5, 0.5]),
        ([1, 2], [0.0, 0.0]),
        ({"a": 1, "b": 2}, {"a": 0.5, "c": 0.5}),
    ],
)
def test_bad_input(counts: object, weights: object) -> None:
    with pytest.raises(AnalysisError):
        sample_ratio_mismatch(counts, weights)  # type: ignore[arg-type]


def test_sequential_false_alarms_stay_under_alpha_when_peeking() -> None:
    """Correct 10/90 routing, a look every 100 requests up to 10^5 at alpha 0.05.
    Vectorised through the beta-binomial identity above, spot-checked against the
    function."""
    rng = np.random.default_rng(4)
    runs, looks, w, scale = 1_000, 1_000, 0.1, 0.1
    canary = rng.binomial(100, w, size=(runs, looks)).cumsum(axis=1)
    total = 100 * np.arange(1, looks + 1)
    c = 1 / (scale**2 * w * (1 - w))
    log_bf = stats.betabinom.logpmf(canary, total, c * w, c * (1 - w)) - stats.binom.logpmf(
        canary, total, w
    )
    assert (log_bf >= math.log(20)).any(axis=1).mean() <= 0.05
    for r, j in ((0, 0), (5, 400), (9, 999)):
        res = sample_ratio_mismatch([int(canary[r, j]), int(total[j] - canary[r, j])], [w, 1 - w])
        assert res.sequential_p_value == pytest.approx(min(1.0, math.exp(-log_bf[r, j])))
