"""Candidate-vs-stable comparisons that stay valid under continuous peeking.

Two kinds of metric:

* **rates** (:func:`compare_rates`): events per request (violations, errors,
  refusals). Harm and non-inferiority are tested on the risk ratio with the exact
  event-split e-value of :mod:`._rate_ratio`; the difference is shown with a
  normal-mixture confidence sequence.
* **means** (:func:`compare_means`): latency, TTFT, output length, judge ratings. The
  normal-mixture test of Waudby-Smith et al. (2024) on the linear contrast
  ``mean_c - g * mean_s - h``, which turns a Kayenta-style margin ("fail only when
  the candidate is more than 10% slower") into a plain null hypothesis
  ``mean_c <= 1.1 * mean_s``. Quantiles (p95 latency) are compared as rates: count
  requests above a fixed threshold (the SLO, or stable's p95 from an earlier window)
  and pass the counts to :func:`compare_rates`.

Margins. ``tolerance`` is the relative worsening that is not yet harm (Kayenta's
allowed increase minus one): a tiny but significant shift does not roll back.
``noninferiority_margin`` is what promotion must rule out: PASS needs evidence that
the candidate is less than that much worse. The harm p-value and the interval answer
different questions (one-sided ratio vs two-sided difference) and may disagree at
the edge; decisions use the p-values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ._beta_binomial import DEFAULT_LOG_ODDS_SCALE
from ._errors import AnalysisError
from ._fixed import fieller_interval
from ._normal_mixture import (
    DEFAULT_MEAN_RHO,
    log_e_to_p_value,
    normal_mixture_log_e,
    normal_mixture_radius,
)
from ._rate_ratio import rate_ratio, rate_ratio_confidence_sequence, rate_ratio_log_e
from ._stats import Interval, MeanStats, Proportion
from ._types import Alternative

__all__ = [
    "DEFAULT_RATE_RHO",
    "MeanComparison",
    "MeanTest",
    "RateComparison",
    "RateTest",
    "compare_means",
    "compare_rates",
    "effective_sample_size",
    "rate_difference_confidence_sequence",
]

DEFAULT_RATE_RHO = 0.07
"""``rho`` of the rate-difference sequence: the standardised size of 1% -> 2% at a 10%
canary share (0.01 / sqrt(0.9 * (0.0196 + 0.0099 / 9)) ~ 0.073)."""


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise AnalysisError(f"alpha must be in (0, 1), got {alpha}")


def _check_margin(value: float | None, name: str) -> None:
    if value is not None and not (value >= 0.0 and math.isfinite(value)):
        raise AnalysisError(f"{name} must be a finite number >= 0, got {value}")


def effective_sample_size(n_c: float, n_s: float) -> float:
    """``1 / (1/n_c + 1/n_s)``: the intrinsic time of a two-sample comparison.

    With ``rho`` defined per unit of this time, the tuning does not depend on the
    canary share.
    """
    if n_c <= 0 or n_s <= 0:
        return 0.0
    return n_c * n_s / (n_c + n_s)


# --------------------------------------------------------------------------- rates


@dataclass(frozen=True, slots=True)
class RateTest:
    """How to compare a rate metric (events are the bad outcome)."""

    alpha: float = 0.05
    tolerance: float = 0.0
    """Harm means ``p_c > (1 + tolerance) * p_s``; 0.2 ignores up to 20% worse."""
    noninferiority_margin: float | None = None
    """Promotion needs evidence of ``p_c < (1 + margin) * p_s``; None: not required."""
    scale: float = DEFAULT_LOG_ODDS_SCALE
    """Prior spread on the log rate ratio of the exact test (tuned for a doubling)."""
    rho: float = DEFAULT_RATE_RHO
    """Mixture parameter of the difference sequence (display only)."""
    share: float | None = None
    """Candidate fraction of candidate+stable traffic; None: the realised share."""

    def __post_init__(self) -> None:
        _check_alpha(self.alpha)
        _check_margin(self.tolerance, "tolerance")
        _check_margin(self.noninferiority_margin, "noninferiority_margin")


@dataclass(frozen=True, slots=True)
class RateComparison:
    """Result of :func:`compare_rates`: estimates, always-valid intervals, p-values."""

    candidate: Proportion
    stable: Proportion
    difference: float
    """``p_c - p_s``."""
    difference_interval: Interval
    ratio: float
    """``p_c / p_s``; inf when only the candidate has events, nan when neither has."""
    ratio_interval: Interval
    harm_p_value: float
    """Always-valid p-value of ``H0: p_c <= (1 + tolerance) p_s``."""
    noninferiority_p_value: float | None
    """Always-valid p-value of ``H0: p_c >= (1 + margin) p_s``; None if no margin."""
    alpha: float

    __json_extra__ = ("harmful", "noninferior")

    @property
    def harmful(self) -> bool:
        return self.harm_p_value <= self.alpha

    @property
    def noninferior(self) -> bool | None:
        if self.noninferiority_p_value is None:
            return None
        return self.noninferiority_p_value <= self.alpha


def rate_difference_confidence_sequence(
    candidate: Proportion,
    stable: Proportion,
    alpha: float = 0.05,
    rho: float = DEFAULT_RATE_RHO,
) -> Interval:
    """Asymptotic always-valid interval for ``p_c - p_s`` (normal mixture, unpooled).

    The variance uses Agresti-Caffo pseudo-counts ``(x+1)/(n+2)`` so that zero events
    do not collapse the interval to a point; ``[-1, 1]`` while an arm is empty.
    """
    _check_alpha(alpha)
    if candidate.empty or stable.empty:
        return Interval(-1.0, 1.0)
    var = 0.0
    for arm in (candidate, stable):
        p = (arm.events + 1.0) / (arm.n + 2.0)
        var += p * (1.0 - p) / arm.n
    t = effective_sample_size(candidate.n, stable.n)
    half = float(normal_mixture_radius(t, rho, alpha)) * math.sqrt(var)
    diff = candidate.rate - stable.rate
    return Interval(max(-1.0, diff - half), min(1.0, diff + half))


def compare_rates(
    candidate: Proportion, stable: Proportion, test: RateTest | None = None
) -> RateComparison:
    """Compare event rates over the same window; valid at every look (see module doc)."""
    test = test or RateTest()
    counts = (candidate.n, candidate.events, stable.n, stable.events)
    harm_log_e = rate_ratio_log_e(
        *counts,
        1.0 + test.tolerance,
        alternative=Alternative.GREATER,
        scale=test.scale,
        share=test.share,
    )
    ni_p: float | None = None
    if test.noninferiority_margin is not None:
        ni_log_e = rate_ratio_log_e(
            *counts,
            1.0 + test.noninferiority_margin,
            alternative=Alternative.LESS,
            scale=test.scale,
            share=test.share,
        )
        ni_p = float(log_e_to_p_value(ni_log_e))
    return RateComparison(
        candidate=candidate,
        stable=stable,
        difference=candidate.rate - stable.rate,
        difference_interval=rate_difference_confidence_sequence(
            candidate, stable, test.alpha, test.rho
        ),
        ratio=rate_ratio(candidate, stable),
        ratio_interval=rate_ratio_confidence_sequence(
            candidate, stable, test.alpha, test.scale, test.share
        ),
        harm_p_value=float(log_e_to_p_value(harm_log_e)),
        noninferiority_p_value=ni_p,
        alpha=test.alpha,
    )


# --------------------------------------------------------------------------- means


@dataclass(frozen=True, slots=True)
class MeanTest:
    """How to compare a continuous metric."""

    alpha: float = 0.05
    higher_is_worse: bool = True
    """True for latency and length; False for ratings, where a drop is harm."""
    tolerance: float = 0.0
    """Relative worsening that is not harm (Kayenta's allowed increase - 1)."""
    absolute_tolerance: float = 0.0
    """Absolute worsening that is not harm, added to the relative one (e.g. 20 ms)."""
    noninferiority_margin: float | None = None
    """Promotion needs evidence the candidate is less than this much (relative) worse."""
    absolute_noninferiority_margin: float = 0.0
    rho: float = DEFAULT_MEAN_RHO

    def __post_init__(self) -> None:
        _check_alpha(self.alpha)
        _check_margin(self.tolerance, "tolerance")
        _check_margin(self.absolute_tolerance, "absolute_tolerance")
        _check_margin(self.noninferiority_margin, "noninferiority_margin")
        _check_margin(self.absolute_noninferiority_margin, "absolute_noninferiority_margin")
        if not self.higher_is_worse and self.tolerance >= 1.0:
            raise AnalysisError("tolerance must be < 1 when lower is worse")


@dataclass(frozen=True, slots=True)
class MeanComparison:
    """Result of :func:`compare_means`."""

    candidate: MeanStats
    stable: MeanStats
    difference: float
    difference_interval: Interval
    ratio: float
    """``mean_c / mean_s``; nan when the stable mean is 0 or missing."""
    ratio_interval: Interval
    harm_p_value: float
    noninferiority_p_value: float | None
    alpha: float

    __json_extra__ = ("harmful", "noninferior")

    @property
    def harmful(self) -> bool:
        return self.harm_p_value <= self.alpha

    @property
    def noninferior(self) -> bool | None:
        if self.noninferiority_p_value is None:
            return None
        return self.noninferiority_p_value <= self.alpha


def _contrast_log_e(
    candidate: MeanStats,
    stable: MeanStats,
    g: float,
    h: float,
    rho: float,
    alternative: Alternative,
) -> float:
    """Normal-mixture log e-value of ``H0: mean_c - g * mean_s - h = 0`` (one-sided)."""
    if candidate.n < 2 or stable.n < 2:
        return 0.0
    var = candidate.variance / candidate.n + g * g * stable.variance / stable.n
    if var <= 0.0:
        return 0.0
    z = (candidate.mean - g * stable.mean - h) / math.sqrt(var)
    t = effective_sample_size(candidate.n, stable.n)
    return float(normal_mixture_log_e(z, t, rho, alternative))


def compare_means(
    candidate: MeanStats, stable: MeanStats, test: MeanTest | None = None
) -> MeanComparison:
    """Compare means over the same window; valid at every look (asymptotically)."""
    test = test or MeanTest()
    sign = 1.0 if test.higher_is_worse else -1.0
    harm_side = Alternative.GREATER if test.higher_is_worse else Alternative.LESS
    ni_side = Alternative.LESS if test.higher_is_worse else Alternative.GREATER
    harm_log_e = _contrast_log_e(
        candidate,
        stable,
        1.0 + sign * test.tolerance,
        sign * test.absolute_tolerance,
        test.rho,
        harm_side,
    )
    ni_p: float | None = None
    if test.noninferiority_margin is not None:
        ni_log_e = _contrast_log_e(
            candidate,
            stable,
            1.0 + sign * test.noninferiority_margin,
            sign * test.absolute_noninferiority_margin,
            test.rho,
            ni_side,
        )
        ni_p = float(log_e_to_p_value(ni_log_e))

    t = effective_sample_size(candidate.n, stable.n)
    if candidate.n < 2 or stable.n < 2:
        diff_interval = ratio_interval = Interval(-math.inf, math.inf)
    else:
        radius = float(normal_mixture_radius(t, test.rho, test.alpha))
        vc, vs = candidate.variance / candidate.n, stable.variance / stable.n
        half = radius * math.sqrt(vc + vs)
        diff = candidate.mean - stable.mean
        diff_interval = Interval(diff - half, diff + half)
        ratio_interval = fieller_interval(candidate.mean, vc, stable.mean, vs, radius)
    ratio = candidate.mean / stable.mean if stable.n and stable.mean != 0 else math.nan
    return MeanComparison(
        candidate=candidate,
        stable=stable,
        difference=candidate.mean - stable.mean,
        difference_interval=diff_interval,
        ratio=ratio,
        ratio_interval=ratio_interval,
        harm_p_value=float(log_e_to_p_value(harm_log_e)),
        noninferiority_p_value=ni_p,
        alpha=test.alpha,
    )
