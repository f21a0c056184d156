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
    rate_ratio,
    rate_ratio_confidence_sequence,
    rate_ratio_log_e,
)

from ._hypothesis import PROPERTY


def test_is_the_event_split_test() -> None:
    """Candidate share of the events vs theta0 = pi r0 / (pi r0 + 1 - pi)."""
    nc, xc, ns, xs, r0 = 1_000, 25, 9_000, 110, 1.5
    pi = nc / (nc + ns)
    theta0 = pi * r0 / (pi * r0 + 1 - pi)
    expected = beta_binomial_log_e(xc + xs, xc, theta0, alternative="greater")
    assert rate_ratio_log_e(nc, xc, ns, xs, r0) == pytest.approx(expected)


def test_matches_integration_over_the_risk_ratio() -> None:
    """The same e-value written as a mixture over theta, integrated numerically from
    the definition: prod over events of P(arm | event, theta) / P(arm | event, pi)."""
    nc, xc, ns, xs = 500, 12, 4_500, 50
    pi = nc / (nc + ns)
    c = 1 / (DEFAULT_LOG_ODDS_SCALE**2 * pi * (1 - pi))
    prior = stats.beta(c * pi, c * (1 - pi))

    def integrand(theta: float) -> float:
        log_lr = xc * math.log(theta / pi) + xs * math.log((1 - theta) / (1 - pi))
        return math.exp(log_lr) * prior.pdf(theta)

    value, _ = integrate.quad(integrand, pi, 1.0, points=[xc / (xc + xs)], limit=200)
    expected = value / prior.sf(pi)
    assert math.exp(rate_ratio_log_e(nc, xc, ns, xs)) == pytest.approx(expected, rel=1e-5)


def test_configured_share_is_used() -> None:
    realised = rate_ratio_log_e(1_000, 20, 9_000, 90)
    configured = rate_ratio_log_e(1_000, 20, 9_000, 90, share=0.2)
    assert configured != pytest.approx(realised)


def test_no_evidence_while_an_arm_is_empty() -> None:
    assert rate_ratio_log_e(0, 0, 100, 5) == 0.0
    assert rate_ratio_log_e(100, 5, 0, 0) == 0.0
    np.testing.assert_array_equal(rate_ratio_log_e([0, 0], [0, 0], [0, 0], [0, 0]), [0.0, 0.0])


@pytest.mark.parametrize(("ratio", "share"), [(0.0, None), (-1.0, None), (1.0, 0.0), (1.0, 1.0)])
def test_bad_parameters(ratio: float, share: float | None) -> None:
    with pytest.raises(AnalysisError):
        rate_ratio_log_e(10, 1, 10, 1, ratio, share=share)


def test_point_estimate_edges() -> None:
    assert rate_ratio(Proportion(100, 2), Proportion(100, 1)) == pytest.approx(2.0)
    assert rate_ratio(Proportion(100, 2), Proportion(100, 0)) == math.inf
    assert math.isnan(rate_ratio(Proportion(100, 0), Proportion(100, 0)))
    assert math.isnan(rate_ratio(Proportion(), Proportion(100, 3)))


_arm = st.tuples(st.integers(1, 20_000), st.integers(0, 400))


@PROPERTY
@given(_arm, _arm, st.sampled_from([1.0, 1.2, 2.0]))
def test_swapping_arms_mirrors_the_test(c: tuple[int, int], s: tuple[int, int], r0: float) -> None:
    """ "Candidate worse than r0 x stable" is "stable better than candidate / r0"."""
    (nc, xc), (ns, xs) = c, s
    assume(xc <= nc and xs <= ns)
    forward = rate_ratio_log_e(nc, xc, ns, xs, r0, alternative="greater")
    backward = rate_ratio_log_e(ns, xs, nc, xc, 1 / r0, alternative="less")
    assert forward == pytest.approx(backward, abs=1e-7)


@PROPERTY
@given(_arm, _arm)
def test_sequence_contains_estimate(c: tuple[int, int], s: tuple[int, int]) -> None:
    (nc, xc), (ns, xs) = c, s
    assume(xc <= nc and xs <= ns and xc + xs > 0)
    cand, stab = Proportion(nc, xc), Proportion(ns, xs)
    cs = rate_ratio_confidence_sequence(cand, stab)
    assert cs.lower <= rate_ratio(cand, stab) <= cs.upper


def test_sequence_edges() -> None:
    assert rate_ratio_confidence_sequence(Proportion(), Proportion(10, 1)).as_tuple() == (
        0.0,
        math.inf,
    )
    only_candidate = rate_ratio_confidence_sequence(Proportion(1_000, 30), Proportion(9_000, 0))
    assert only_candidate.upper == math.inf and only_candidate.lower > 1.0


def test_more_data_narrows_the_ratio_sequence() -> None:
    small = rate_ratio_confidence_sequence(Proportion(1_000, 10), Proportion(9_000, 90))
    large = rate_ratio_confidence_sequence(Proportion(10_000, 100), Proportion(90_000, 900))
    assert large.lower > small.lower and large.upper < small.upper
    assert large.contains(1.0)


def test_harm_evidence_grows_with_candidate_events() -> None:
    values = [rate_ratio_log_e(1_000, x, 9_000, 90) for x in range(0, 40, 5)]
    assert values == sorted(values)
