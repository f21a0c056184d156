from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate, stats

from saferollout.analysis import (
    AnalysisError,
    MeanStats,
    log_e_to_p_value,
    mean_confidence_sequence,
    normal_mixture_log_e,
    normal_mixture_radius,
    one_sided_radius,
    rho_for_sample_size,
)

from ._hypothesis import PROPERTY


def _mixture_by_quadrature(z: float, t: float, rho: float, one_sided: bool) -> float:
    """e-value by integrating the Gaussian likelihood ratio over the prior directly."""
    s = z * math.sqrt(t)

    def integrand(theta: float) -> float:
        return math.exp(theta * s - theta * theta * t / 2.0) * stats.norm.pdf(theta, 0, rho)

    if one_sided:
        value, _ = integrate.quad(integrand, 0.0, np.inf)
        return 2.0 * value
    value, _ = integrate.quad(integrand, -np.inf, np.inf)
    return value


@pytest.mark.parametrize(("z", "t", "rho"), [(0.0, 10, 0.1), (2.5, 400, 0.1), (-1.0, 50, 0.3)])
def test_closed_forms_match_quadrature(z: float, t: float, rho: float) -> None:
    two = normal_mixture_log_e(z, t, rho, "two-sided")
    one = normal_mixture_log_e(z, t, rho, "greater")
    assert math.exp(two) == pytest.approx(_mixture_by_quadrature(z, t, rho, False), rel=1e-6)
    assert math.exp(one) == pytest.approx(_mixture_by_quadrature(z, t, rho, True), rel=1e-6)


def test_less_is_greater_mirrored() -> None:
    assert normal_mixture_log_e(-1.7, 300, 0.1, "less") == pytest.approx(
        normal_mixture_log_e(1.7, 300, 0.1, "greater")
    )


def test_no_time_no_evidence() -> None:
    for side in ("two-sided", "greater", "less"):
        assert normal_mixture_log_e(5.0, 0, 0.1, side) == pytest.approx(0.0)
    assert normal_mixture_radius(0, 0.1, 0.05) == math.inf
    assert one_sided_radius(0, 0.1, 0.05) == math.inf


def test_radius_known_value() -> None:
    # rho^2 t = 1: radius^2 = 2 (log 2 + 2 log 20)
    expected = math.sqrt(2.0 * (math.log(2.0) + 2.0 * math.log(20.0)))
    assert normal_mixture_radius(100, 0.1, 0.05) == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(3.65640, abs=1e-5)


@PROPERTY
@given(st.floats(1, 1e6), st.floats(0.01, 1.0), st.sampled_from([0.01, 0.05, 0.1]))
def test_radius_is_where_e_reaches_one_over_alpha(t: float, rho: float, alpha: float) -> None:
    radius = normal_mixture_radius(t, rho, alpha)
    assert normal_mixture_log_e(radius, t, rho) == pytest.approx(math.log(1 / alpha), abs=1e-9)
    one = one_sided_radius(t, rho, alpha)
    assert 0 < one <= radius
    assert normal_mixture_log_e(one, t, rho, "greater") == pytest.approx(
        math.log(1 / alpha), abs=1e-6
    )


@PROPERTY
@given(st.floats(1, 1e5), st.floats(1.01, 100))
def test_interval_shrinks_with_more_data(t: float, factor: float) -> None:
    # The half-width is radius(t) * sd / sqrt(t).
    before = normal_mixture_radius(t, 0.1, 0.05) / math.sqrt(t)
    after = normal_mixture_radius(t * factor, 0.1, 0.05) / math.sqrt(t * factor)
    assert after < before


def test_always_valid_is_wider_than_fixed() -> None:
    for t in (10, 1_000, 1_000_000):
        assert normal_mixture_radius(t, 0.1, 0.05) > stats.norm.ppf(0.975)


def test_rho_for_sample_size_minimises_radius_at_t_star() -> None:
    t_star = 2_000.0
    best = rho_for_sample_size(t_star, 0.05)
    at_best = normal_mixture_radius(t_star, best, 0.05)
    for other in (best * 0.7, best * 1.4):
        assert normal_mixture_radius(t_star, other, 0.05) > at_best


def test_p_value_from_log_e() -> None:
    assert log_e_to_p_value(math.log(40.0)) == pytest.approx(0.025)
    assert log_e_to_p_value(-3.0) == 1.0
    np.testing.assert_allclose(log_e_to_p_value(np.array([0.0, math.log(2)])), [1.0, 0.5])


def test_mean_confidence_sequence() -> None:
    values = np.random.default_rng(3).normal(10.0, 2.0, size=500)
    stats_ = MeanStats.from_values(values)
    interval = mean_confidence_sequence(stats_)
    assert interval.contains(stats_.mean)
    fixed_half = 1.96 * stats_.std / math.sqrt(stats_.n)
    assert interval.width / 2 > fixed_half
    assert mean_confidence_sequence(MeanStats.from_values([1.0])).width == math.inf


@pytest.mark.parametrize(("alpha", "rho"), [(0.0, 0.1), (1.0, 0.1), (0.05, 0.0), (0.05, -1)])
def test_bad_parameters_rejected(alpha: float, rho: float) -> None:
    with pytest.raises(AnalysisError):
        normal_mixture_radius(10, rho, alpha)


def test_time_uniform_coverage_under_continuous_peeking() -> None:
    """Gaussian data, a look after every observation: the two-sided sequence misses the
    true mean at some look in at most ~alpha of runs (exact for known variance)."""
    rng = np.random.default_rng(11)
    runs, horizon = 2_000, 2_000
    sums = rng.standard_normal((runs, horizon)).cumsum(axis=1)
    t = np.arange(1, horizon + 1)
    z = sums / np.sqrt(t)
    crossed = (normal_mixture_log_e(z, t, 0.1) >= math.log(20)).any(axis=1)
    assert crossed.mean() <= 0.05
