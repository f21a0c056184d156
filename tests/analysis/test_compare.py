from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from saferollout.analysis import (
    AnalysisError,
    MeanStats,
    MeanTest,
    Proportion,
    RateTest,
    compare_means,
    compare_rates,
    effective_sample_size,
    normal_mixture_log_e,
    rate_difference_confidence_sequence,
)

from ._hypothesis import PROPERTY


def test_effective_sample_size() -> None:
    assert effective_sample_size(1_000, 9_000) == pytest.approx(900.0)
    assert effective_sample_size(0, 10) == 0.0


def test_clear_harm_is_detected() -> None:
    result = compare_rates(Proportion(3_000, 75), Proportion(27_000, 270))
    assert result.harmful
    assert result.harm_p_value < 0.001
    assert result.difference == pytest.approx(0.015)
    assert result.ratio == pytest.approx(2.5)
    assert result.difference_interval.above(0.0)
    assert result.ratio_interval.above(1.0)


def test_equal_rates_are_not_harm() -> None:
    result = compare_rates(Proportion(10_000, 100), Proportion(90_000, 900))
    assert not result.harmful
    assert result.harm_p_value == 1.0
    assert result.ratio_interval.contains(1.0)
    assert result.noninferior is None


def test_tolerance_ignores_small_increases() -> None:
    c, s = Proportion(100_000, 1_300), Proportion(900_000, 9_000)  # 1.3% vs 1.0%
    strict = compare_rates(c, s)
    tolerant = compare_rates(c, s, RateTest(tolerance=0.5))
    assert strict.harmful
    assert not tolerant.harmful
    assert tolerant.harm_p_value > strict.harm_p_value


def test_noninferiority_needs_evidence() -> None:
    test = RateTest(noninferiority_margin=0.5)
    little = compare_rates(Proportion(500, 5), Proportion(4_500, 45), test)
    lots = compare_rates(Proportion(50_000, 500), Proportion(450_000, 4_500), test)
    assert little.noninferior is False
    assert lots.noninferior is True


def test_difference_sequence_with_zero_events_is_not_a_point() -> None:
    interval = rate_difference_confidence_sequence(Proportion(500, 0), Proportion(500, 0))
    assert interval.lower < 0.0 < interval.upper
    assert rate_difference_confidence_sequence(Proportion(), Proportion(5, 1)).as_tuple() == (
        -1.0,
        1.0,
    )


@pytest.mark.parametrize("kwargs", [{"alpha": 0.0}, {"tolerance": -0.1}, {"tolerance": math.nan}])
def test_rate_test_validation(kwargs: dict[str, float]) -> None:
    with pytest.raises(AnalysisError):
        RateTest(**kwargs)


_arm = st.tuples(st.integers(0, 50_000), st.integers(0, 2_000))


@PROPERTY
@given(_arm, _arm)
def test_rate_comparison_never_breaks(c: tuple[int, int], s: tuple[int, int]) -> None:
    """Empty and all-zero inputs included: finite p-values, ordered intervals."""
    assume(c[1] <= c[0] and s[1] <= s[0])
    result = compare_rates(Proportion(*c), Proportion(*s), RateTest(noninferiority_margin=0.3))
    assert 0.0 <= result.harm_p_value <= 1.0
    assert result.noninferiority_p_value is not None
    assert 0.0 <= result.noninferiority_p_value <= 1.0
    assert -1.0 <= result.difference_interval.lower <= result.difference_interval.upper <= 1.0
    assert 0.0 <= result.ratio_interval.lower <= result.ratio_interval.upper


def _stats(rng: np.random.Generator, mean: float, sd: float, n: int) -> MeanStats:
    return MeanStats.from_values(rng.normal(mean, sd, n))


def test_mean_harm_test_is_the_mixture_on_the_contrast() -> None:
    c = MeanStats.from_values(np.random.default_rng(0).normal(1.3, 0.5, 400))
    s = MeanStats.from_values(np.random.default_rng(1).normal(1.0, 0.5, 3_600))
    result = compare_means(c, s, MeanTest(tolerance=0.1))
    se = math.sqrt(c.variance / c.n + 1.1**2 * s.variance / s.n)
    z = (c.mean - 1.1 * s.mean) / se
    log_e = normal_mixture_log_e(z, effective_sample_size(c.n, s.n), 0.1, "greater")
    assert result.harm_p_value == pytest.approx(min(1.0, math.exp(-log_e)))


def test_kayenta_margin_tolerates_a_small_significant_shift() -> None:
    rng = np.random.default_rng(2)
    c, s = _stats(rng, 1.03, 0.2, 20_000), _stats(rng, 1.0, 0.2, 180_000)
    assert compare_means(c, s).harmful  # 3% slower is real...
    assert not compare_means(c, s, MeanTest(tolerance=0.1)).harmful  # ...but under 10%


def test_lower_is_worse_mirrors() -> None:
    rng = np.random.default_rng(3)
    worse, base = _stats(rng, 3.6, 1.0, 3_000), _stats(rng, 4.0, 1.0, 27_000)
    rating = MeanTest(higher_is_worse=False)
    assert compare_means(worse, base, rating).harmful
    assert not compare_means(worse, base).harmful  # as latency a drop is good
    result = compare_means(worse, base, rating)
    assert result.ratio_interval.below(1.0)
    assert result.difference_interval.below(0.0)


def test_mean_noninferiority() -> None:
    rng = np.random.default_rng(4)
    c, s = _stats(rng, 1.0, 0.3, 20_000), _stats(rng, 1.0, 0.3, 20_000)
    assert compare_means(c, s, MeanTest(noninferiority_margin=0.05)).noninferior
    small_c, small_s = _stats(rng, 1.0, 0.3, 20), _stats(rng, 1.0, 0.3, 20)
    assert not compare_means(small_c, small_s, MeanTest(noninferiority_margin=0.05)).noninferior


def test_means_without_data() -> None:
    result = compare_means(MeanStats(), MeanStats.from_values([1.0, 2.0]))
    assert result.harm_p_value == 1.0
    assert result.difference_interval.width == math.inf
    assert math.isnan(compare_means(MeanStats(), MeanStats()).ratio)


def test_constant_values_do_not_divide_by_zero() -> None:
    c = MeanStats.from_values([2.0] * 50)
    s = MeanStats.from_values([1.0] * 50)
    result = compare_means(c, s)
    assert result.harm_p_value == 1.0  # zero variance: no usable statistic
    assert result.difference == 1.0


def test_mean_test_validation() -> None:
    with pytest.raises(AnalysisError):
        MeanTest(higher_is_worse=False, tolerance=1.0)
    with pytest.raises(AnalysisError):
        MeanTest(absolute_tolerance=-1.0)


def test_aa_means_with_peeking_stay_under_alpha() -> None:
    """Lognormal latencies, candidate 10% of traffic, look every 200 requests: the
    harm test rolls back at most alpha of identical versions (asymptotic validity)."""
    rng = np.random.default_rng(8)
    runs, looks, per_look = 400, 150, 200
    values = rng.lognormal(0.0, 0.5, size=(runs, looks, per_look))
    is_c = rng.random((runs, looks, per_look)) < 0.1

    def cum(mask: np.ndarray, power: int) -> np.ndarray:
        return np.where(mask, values**power, 0.0).sum(axis=2).cumsum(axis=1)

    nc, ns = is_c.sum(axis=2).cumsum(axis=1), (~is_c).sum(axis=2).cumsum(axis=1)
    mc, ms = cum(is_c, 1) / nc, cum(~is_c, 1) / ns
    vc = (cum(is_c, 2) - nc * mc**2) / (nc - 1)
    vs = (cum(~is_c, 2) - ns * ms**2) / (ns - 1)
    z = (mc - ms) / np.sqrt(vc / nc + vs / ns)
    log_e = normal_mixture_log_e(z, nc * ns / (nc + ns), 0.1, "greater")
    assert (log_e >= math.log(20)).any(axis=1).mean() <= 0.05
