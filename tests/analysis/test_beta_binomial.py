from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from scipy import integrate, stats

from saferollout.analysis import (
    DEFAULT_LOG_ODDS_SCALE,
    AnalysisError,
    Proportion,
    beta_binomial_log_e,
    proportion_bounds,
    proportion_confidence_sequence,
    wilson_interval,
)

from ._hypothesis import PROPERTY


def _prior(p0: float, scale: float = DEFAULT_LOG_ODDS_SCALE) -> tuple[float, float]:
    c = 1.0 / (scale**2 * p0 * (1 - p0))
    return c * p0, c * (1 - p0)


def _by_quadrature(n: int, x: int, p0: float, side: str) -> float:
    """Mixture of likelihood ratios integrated numerically over the (truncated) prior."""
    a, b = _prior(p0)
    prior = stats.beta(a, b)
    lo, hi = {"two-sided": (0.0, 1.0), "greater": (p0, 1.0), "less": (0.0, p0)}[side]
    mass = prior.cdf(hi) - prior.cdf(lo)

    def integrand(q: float) -> float:
        log_lr = x * math.log(q / p0) + (n - x) * math.log((1 - q) / (1 - p0))
        return math.exp(log_lr) * prior.pdf(q)

    value, _ = integrate.quad(integrand, lo, hi, points=[p0, x / n] if n else None, limit=200)
    return value / mass


@pytest.mark.parametrize("side", ["two-sided", "greater", "less"])
@pytest.mark.parametrize(("n", "x", "p0"), [(50, 2, 0.02), (400, 12, 0.02), (30, 20, 0.5)])
def test_closed_form_matches_quadrature(n: int, x: int, p0: float, side: str) -> None:
    got = math.exp(beta_binomial_log_e(n, x, p0, alternative=side))
    assert got == pytest.approx(_by_quadrature(n, x, p0, side), rel=1e-5)


def test_no_data_no_evidence() -> None:
    for side in ("two-sided", "greater", "less"):
        assert beta_binomial_log_e(0, 0, 0.3, alternative=side) == pytest.approx(0.0)
    assert proportion_confidence_sequence(Proportion()).as_tuple() == (0.0, 1.0)
    assert proportion_bounds(Proportion()).as_tuple() == (0.0, 1.0)


@pytest.mark.parametrize("p0", [0.0, 1.0, -0.1, 1.5])
def test_p0_must_be_inside_unit_interval(p0: float) -> None:
    with pytest.raises(AnalysisError):
        beta_binomial_log_e(10, 1, p0)


def test_known_interval_values() -> None:
    # Pinned so that an accidental change of prior or method shows up.
    cs = proportion_confidence_sequence(Proportion(1000, 10))
    assert cs.lower == pytest.approx(0.0027038, abs=1e-6)
    assert cs.upper == pytest.approx(0.0223494, abs=1e-6)


@PROPERTY
@given(st.integers(1, 5_000), st.floats(0.0, 1.0))
def test_sequence_contains_estimate_and_bounds_hit_threshold(n: int, frac: float) -> None:
    x = round(n * frac)
    prop = Proportion(n, x)
    cs = proportion_confidence_sequence(prop)
    assert 0.0 <= cs.lower <= prop.rate <= cs.upper <= 1.0
    for bound in (cs.lower, cs.upper):
        if 1e-9 < bound < 1 - 1e-9:
            assert beta_binomial_log_e(n, x, bound) == pytest.approx(math.log(20), abs=1e-4)


@PROPERTY
@given(st.integers(1, 2_000), st.integers(0, 2_000))
def test_mirror_symmetry(n: int, x: int) -> None:
    assume(x <= n)
    cs = proportion_confidence_sequence(Proportion(n, x))
    mirrored = proportion_confidence_sequence(Proportion(n, n - x))
    assert cs.lower == pytest.approx(1 - mirrored.upper, abs=1e-7)
    assert cs.upper == pytest.approx(1 - mirrored.lower, abs=1e-7)


@PROPERTY
@given(st.integers(10, 2_000), st.integers(2, 20))
def test_interval_shrinks_with_data_at_the_same_rate(n: int, factor: int) -> None:
    x = n // 10
    small = proportion_confidence_sequence(Proportion(n, x))
    large = proportion_confidence_sequence(Proportion(n * factor, x * factor))
    assert large.width < small.width


def test_always_valid_is_wider_than_wilson() -> None:
    for n, x in ((100, 3), (1_000, 10), (100_000, 1_000)):
        prop = Proportion(n, x)
        assert proportion_confidence_sequence(prop).width > wilson_interval(prop).width


def test_one_sided_bounds_are_inside_two_sided_sequence() -> None:
    prop = Proportion(5_000, 60)
    two = proportion_confidence_sequence(prop)
    one = proportion_bounds(prop)
    assert two.lower < one.lower < prop.rate < one.upper < two.upper


def test_zero_events_upper_bound() -> None:
    bounds = proportion_bounds(Proportion(3_000, 0))
    assert bounds.lower == 0.0
    # Roughly log(1/alpha)/n like the "rule of three", a little wider for validity.
    assert 3 / 3_000 < bounds.upper < 3 * 3 / 3_000


def test_time_uniform_validity_by_simulation() -> None:
    """Bernoulli(0.05) data, a look after every 4 observations up to 2,000: the
    e-process at the true rate crosses 1/alpha in at most alpha of runs; so do the
    one-sided ones at a null boundary the truth lies inside (composite null)."""
    rng = np.random.default_rng(5)
    runs, horizon, every = 800, 2_000, 4
    x = (rng.random((runs, horizon)) < 0.05).cumsum(axis=1)[:, every - 1 :: every]
    n = np.arange(every, horizon + 1, every)
    threshold = math.log(20)
    two = (beta_binomial_log_e(n, x, 0.05) >= threshold).any(axis=1).mean()
    greater = (beta_binomial_log_e(n, x, 0.06, alternative="greater") >= threshold).any(axis=1)
    less = (beta_binomial_log_e(n, x, 0.04, alternative="less") >= threshold).any(axis=1)
    assert two <= 0.05
    assert greater.mean() <= 0.05
    assert less.mean() <= 0.05
