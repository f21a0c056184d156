"""Fixed-horizon (classical) intervals and tests.

They are valid only when looked at once, at a sample size fixed in advance; checking
them at every tick inflates false alarms (about 40% over a thousand looks at
alpha = 0.05, see bench/detection.py). They are here for the A/B report, where
readers expect the familiar numbers next to the always-valid ones, and as the naive
baseline of the benchmark. Formulas follow statsmodels (``proportion_confint``
method "wilson", ``confint_proportions_2indep`` method "wald", ``proportions_ztest``)
and Welch (1947).
"""

from __future__ import annotations

import math

from scipy import stats as sps

from ._errors import AnalysisError
from ._stats import Interval, MeanStats, Proportion
from ._types import Alternative

__all__ = [
    "fieller_interval",
    "two_proportion_z_test",
    "wald_difference_interval",
    "welch_interval",
    "welch_test",
    "wilson_interval",
]


def _critical(alpha: float) -> float:
    if not 0.0 < alpha < 1.0:
        raise AnalysisError(f"alpha must be in (0, 1), got {alpha}")
    return float(sps.norm.ppf(1.0 - alpha / 2.0))


def _p_value(z: float, alternative: Alternative | str) -> float:
    side = Alternative(alternative)
    if side is Alternative.GREATER:
        return float(sps.norm.sf(z))
    if side is Alternative.LESS:
        return float(sps.norm.cdf(z))
    return float(2.0 * sps.norm.sf(abs(z)))


def wilson_interval(prop: Proportion, alpha: float = 0.05) -> Interval:
    """Wilson score interval (Wilson 1927); ``[0, 1]`` without data."""
    z = _critical(alpha)
    if prop.n == 0:
        return Interval(0.0, 1.0)
    n, p = prop.n, prop.rate
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


def wald_difference_interval(
    candidate: Proportion, stable: Proportion, alpha: float = 0.05
) -> Interval:
    """Unpooled Wald interval for ``p_c - p_s``; ``[-1, 1]`` while an arm is empty."""
    z = _critical(alpha)
    if candidate.empty or stable.empty:
        return Interval(-1.0, 1.0)
    diff = candidate.rate - stable.rate
    se = math.sqrt(candidate.variance / candidate.n + stable.variance / stable.n)
    return Interval(max(-1.0, diff - z * se), min(1.0, diff + z * se))


def two_proportion_z_test(
    candidate: Proportion, stable: Proportion, alternative: Alternative | str = "two-sided"
) -> tuple[float, float]:
    """Pooled two-proportion z-test: ``(z, p_value)``; ``(0, 1)`` without evidence."""
    if candidate.empty or stable.empty:
        return 0.0, 1.0
    pooled = (candidate.events + stable.events) / (candidate.n + stable.n)
    var = pooled * (1 - pooled) * (1 / candidate.n + 1 / stable.n)
    if var <= 0.0:
        return 0.0, 1.0
    z = (candidate.rate - stable.rate) / math.sqrt(var)
    return z, _p_value(z, alternative)


def _welch(candidate: MeanStats, stable: MeanStats) -> tuple[float, float, float] | None:
    """``(difference, se, degrees of freedom)``, or None without two values per arm."""
    if candidate.n < 2 or stable.n < 2:
        return None
    vc = candidate.variance / candidate.n
    vs = stable.variance / stable.n
    se2 = vc + vs
    if se2 <= 0.0:
        return None
    df = se2 * se2 / (vc * vc / (candidate.n - 1) + vs * vs / (stable.n - 1))
    return candidate.mean - stable.mean, math.sqrt(se2), df


def welch_test(
    candidate: MeanStats, stable: MeanStats, alternative: Alternative | str = "two-sided"
) -> tuple[float, float]:
    """Welch's unequal-variance t-test on summaries: ``(t, p_value)``."""
    res = _welch(candidate, stable)
    if res is None:
        return 0.0, 1.0
    diff, se, df = res
    t = diff / se
    side = Alternative(alternative)
    if side is Alternative.GREATER:
        return t, float(sps.t.sf(t, df))
    if side is Alternative.LESS:
        return t, float(sps.t.cdf(t, df))
    return t, float(2.0 * sps.t.sf(abs(t), df))


def welch_interval(candidate: MeanStats, stable: MeanStats, alpha: float = 0.05) -> Interval:
    """Welch interval for ``mean_c - mean_s``; unbounded without two values per arm."""
    _critical(alpha)
    res = _welch(candidate, stable)
    if res is None:
        return Interval(-math.inf, math.inf)
    diff, se, df = res
    half = float(sps.t.ppf(1.0 - alpha / 2.0, df)) * se
    return Interval(diff - half, diff + half)


def fieller_interval(
    mean_c: float, var_c: float, mean_s: float, var_s: float, critical: float
) -> Interval:
    """Fieller (1954) interval for ``mean_c / mean_s`` from independent estimates.

    ``var_*`` are variances of the estimates (``sd^2 / n``) and ``critical`` the
    boundary on the z scale (a normal quantile, or an always-valid radius). The set
    ``{g : (m_c - g m_s)^2 <= c^2 (v_c + g^2 v_s)}`` is unbounded when the
    denominator is not significantly away from zero; then ``(-inf, inf)``.
    """
    c2 = critical * critical
    a = mean_s * mean_s - c2 * var_s
    if a <= 0.0 or not math.isfinite(a):
        return Interval(-math.inf, math.inf)
    b = mean_c * mean_s
    disc = max(b * b - a * (mean_c * mean_c - c2 * var_c), 0.0)
    root = math.sqrt(disc)
    return Interval((b - root) / a, (b + root) / a)
