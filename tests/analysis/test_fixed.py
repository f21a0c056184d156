"""Fixed-horizon formulas, cross-checked against scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from saferollout.analysis import (
    MeanStats,
    Proportion,
    fieller_interval,
    two_proportion_z_test,
    wald_difference_interval,
    welch_interval,
    welch_test,
    wilson_interval,
)


@pytest.mark.parametrize(("n", "x"), [(100, 10), (20, 0), (20, 20), (1_000, 7)])
def test_wilson_matches_scipy(n: int, x: int) -> None:
    ours = wilson_interval(Proportion(n, x))
    ref = stats.binomtest(x, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert ours.lower == pytest.approx(ref.low, abs=1e-12)
    assert ours.upper == pytest.approx(ref.high, abs=1e-12)


def test_wilson_published_value() -> None:
    # 10/100: 0.05523, 0.17437 (statsmodels proportion_confint(method="wilson")).
    ours = wilson_interval(Proportion(100, 10))
    assert ours.lower == pytest.approx(0.05523, abs=1e-5)
    assert ours.upper == pytest.approx(0.17437, abs=1e-5)


def test_wald_difference_by_formula() -> None:
    c, s = Proportion(400, 30), Proportion(600, 27)
    diff = 30 / 400 - 27 / 600
    se = math.sqrt(0.075 * 0.925 / 400 + 0.045 * 0.955 / 600)
    got = wald_difference_interval(c, s)
    z = stats.norm.ppf(0.975)
    assert got.as_tuple() == pytest.approx((diff - z * se, diff + z * se))
    assert wald_difference_interval(Proportion(), s).as_tuple() == (-1.0, 1.0)


def test_pooled_z_squared_is_pearson_chi_squared() -> None:
    c, s = Proportion(400, 30), Proportion(600, 27)
    z, p = two_proportion_z_test(c, s)
    table = np.array([[30, 370], [27, 573]])
    chi2, p_ref, _, _ = stats.chi2_contingency(table, correction=False)
    assert z * z == pytest.approx(chi2)
    assert p == pytest.approx(p_ref)
    _, p_one = two_proportion_z_test(c, s, "greater")
    assert p_one == pytest.approx(p_ref / 2)


def test_z_test_without_evidence() -> None:
    assert two_proportion_z_test(Proportion(10, 0), Proportion(10, 0)) == (0.0, 1.0)
    assert two_proportion_z_test(Proportion(), Proportion(10, 1)) == (0.0, 1.0)


def test_welch_matches_scipy() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(1.0, 1.0, 80), rng.normal(0.7, 2.0, 120)
    for alternative in ("two-sided", "greater", "less"):
        t, p = welch_test(MeanStats.from_values(a), MeanStats.from_values(b), alternative)
        ref = stats.ttest_ind(a, b, equal_var=False, alternative=alternative)
        assert t == pytest.approx(ref.statistic)
        assert p == pytest.approx(ref.pvalue)
    interval = welch_interval(MeanStats.from_values(a), MeanStats.from_values(b))
    ref_ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert interval.as_tuple() == pytest.approx((ref_ci.low, ref_ci.high))


def test_welch_without_two_values() -> None:
    one = MeanStats.from_values([1.0])
    assert welch_test(one, one) == (0.0, 1.0)
    assert welch_interval(one, one).width == math.inf


def test_fieller_by_brute_force() -> None:
    mc, vc, ms, vs, crit = 12.0, 0.3, 10.0, 0.2, 1.96
    got = fieller_interval(mc, vc, ms, vs, crit)
    grid = np.linspace(0.5, 2.0, 300_001)
    inside = (mc - grid * ms) ** 2 <= crit**2 * (vc + grid**2 * vs)
    assert got.lower == pytest.approx(grid[inside].min(), abs=1e-5)
    assert got.upper == pytest.approx(grid[inside].max(), abs=1e-5)


def test_fieller_unbounded_when_denominator_is_uncertain() -> None:
    assert fieller_interval(1.0, 0.1, 0.1, 1.0, 1.96).width == math.inf
