"""Hard limits: absolute thresholds on the candidate alone, whatever stable does.

A limit such as "violation rate at most 2%" is judged on always-valid one-sided
bounds, never on the raw rate: three violations in the first hundred requests is a
raw 3% but proves nothing. The three outcomes:

* BREACHED when the lower bound is above the limit (always-valid p-value of
  ``H0: rate <= limit`` at most alpha). This is a FAIL.
* COMPLIANT when the upper bound is at or below the limit (p-value of
  ``H0: rate >= limit`` at most alpha). Only this lets a metric PASS.
* UNDETERMINED in between: not enough data yet either way.

Rates use the exact beta-binomial mixture; means the asymptotic normal mixture on
``(mean - limit) / se``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from ._beta_binomial import DEFAULT_LOG_ODDS_SCALE, beta_binomial_log_e, proportion_bounds
from ._errors import AnalysisError
from ._normal_mixture import (
    DEFAULT_MEAN_RHO,
    log_e_to_p_value,
    normal_mixture_log_e,
    one_sided_radius,
)
from ._stats import Interval, MeanStats, Proportion
from ._types import Alternative

__all__ = ["HardLimitResult", "LimitStatus", "check_hard_limit"]


class LimitStatus(StrEnum):
    """Where the candidate stands against an absolute limit."""

    BREACHED = "breached"
    """Evidence that the limit is exceeded: fail."""
    COMPLIANT = "compliant"
    """Evidence that the limit holds: the limit lets the metric pass."""
    UNDETERMINED = "undetermined"
    """Neither yet (also with no data)."""

    @property
    def fails(self) -> bool:
        return self is LimitStatus.BREACHED


@dataclass(frozen=True, slots=True)
class HardLimitResult:
    limit: float
    estimate: float
    bounds: Interval
    """One-sided always-valid bounds, each at level alpha."""
    breach_p_value: float
    compliance_p_value: float
    status: LimitStatus
    higher_is_worse: bool
    alpha: float


def check_hard_limit(
    stats: Proportion | MeanStats,
    limit: float,
    *,
    alpha: float = 0.05,
    higher_is_worse: bool = True,
    scale: float = DEFAULT_LOG_ODDS_SCALE,
    rho: float = DEFAULT_MEAN_RHO,
) -> HardLimitResult:
    """Judge the candidate's metric against ``limit`` (an upper limit if higher is worse).

    Rates must be given with events as the bad outcome and ``higher_is_worse=True``.
    """
    if not 0.0 < alpha < 1.0:
        raise AnalysisError(f"alpha must be in (0, 1), got {alpha}")
    if isinstance(stats, Proportion):
        if not higher_is_worse:
            raise AnalysisError("rate limits are upper limits: count the bad outcome")
        if not 0.0 < limit < 1.0:
            raise AnalysisError(f"a rate limit must lie strictly in (0, 1), got {limit}")
        breach = beta_binomial_log_e(
            stats.n, stats.events, limit, alternative=Alternative.GREATER, scale=scale
        )
        comply = beta_binomial_log_e(
            stats.n, stats.events, limit, alternative=Alternative.LESS, scale=scale
        )
        bounds = proportion_bounds(stats, alpha, scale)
        estimate = stats.rate
    elif isinstance(stats, MeanStats):
        if not math.isfinite(limit):
            raise AnalysisError(f"limit must be finite, got {limit}")
        estimate = stats.mean
        se = stats.std / math.sqrt(stats.n) if stats.n >= 2 else 0.0
        if se > 0.0:
            z = (stats.mean - limit) / se
            up, down = Alternative.GREATER, Alternative.LESS
            if not higher_is_worse:
                up, down = down, up
            breach = float(normal_mixture_log_e(z, stats.n, rho, up))
            comply = float(normal_mixture_log_e(z, stats.n, rho, down))
            half = one_sided_radius(stats.n, rho, alpha) * se
            bounds = Interval(stats.mean - half, stats.mean + half)
        else:
            breach = comply = 0.0
            bounds = Interval(-math.inf, math.inf)
    else:
        raise AnalysisError(f"expected Proportion or MeanStats, got {type(stats).__name__}")

    breach_p = float(log_e_to_p_value(breach))
    comply_p = float(log_e_to_p_value(comply))
    if breach_p <= alpha:
        status = LimitStatus.BREACHED
    elif comply_p <= alpha:
        status = LimitStatus.COMPLIANT
    else:
        status = LimitStatus.UNDETERMINED
    return HardLimitResult(
        limit=limit,
        estimate=estimate,
        bounds=bounds,
        breach_p_value=breach_p,
        compliance_p_value=comply_p,
        status=status,
        higher_is_worse=higher_is_worse,
        alpha=alpha,
    )
