"""Exact always-valid tests and confidence sequences for one proportion.

Mixing the Bernoulli likelihood ratio ``q^x (1-q)^(n-x) / (p0^x (1-p0)^(n-x))`` over a
Beta prior on ``q`` gives the beta-binomial mixture martingale (Robbins 1970; Howard,
Ramdas, McAuliffe, Sekhon 2021, "Time-uniform, nonparametric, nonasymptotic confidence
sequences", Ann. Statist. 49(2), section 3):

    e_n(p0) = B(a + x, b + n - x) / B(a, b) / (p0^x (1 - p0)^(n - x)).

It is exact at every n (no normal approximation), which matters for rare events: at a
1% violation rate the first hundred requests hold about one event. For one-sided
(composite) nulls the prior is truncated to the alternative side; then the ratio is a
supermartingale for every rate on the null side, not only at ``p0``:

    H0: p <= p0  ->  e = [B(a+x, b+n-x) (1 - I_p0(a+x, b+n-x))] / [B(a, b) (1 - I_p0(a, b))] / L(p0)

with ``I`` the regularised incomplete beta function.

Prior: a Beta centred at ``p0`` whose log-odds spread is about ``scale``
(``a + b = 1 / (scale^2 p0 (1 - p0))``, since Var[logit q] ~ 1/a + 1/b). For rare
events log-odds are log rates, so ``scale`` is the relative change the test is tuned
to find: ``log(2)`` targets a doubling. The scale only moves power around; the error
guarantee holds for every choice.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, special

from ._errors import AnalysisError
from ._stats import Interval, Proportion
from ._types import Alternative, FloatOrArray

__all__ = [
    "DEFAULT_LOG_ODDS_SCALE",
    "beta_binomial_log_e",
    "proportion_bounds",
    "proportion_confidence_sequence",
]

DEFAULT_LOG_ODDS_SCALE = math.log(2.0)
"""Prior spread on the log-odds: tuned to detect a doubling (1% -> 2%) fastest."""

_EDGE = 1e-12  # how close to 0 or 1 a searched bound may go


def _prior(p0: FloatOrArray, scale: float) -> tuple[FloatOrArray, FloatOrArray]:
    concentration = 1.0 / (scale * scale * p0 * (1.0 - p0))
    return concentration * p0, concentration * (1.0 - p0)


def beta_binomial_log_e(
    n: ArrayLike,
    x: ArrayLike,
    p0: ArrayLike,
    *,
    alternative: Alternative | str = "two-sided",
    scale: float = DEFAULT_LOG_ODDS_SCALE,
) -> FloatOrArray:
    """Log e-value against ``p = p0`` (or ``p <= p0`` / ``p >= p0`` one-sided).

    Vectorised over ``n``, ``x`` and ``p0``; ``p0`` must lie strictly inside (0, 1).
    """
    if not (scale > 0 and math.isfinite(scale)):
        raise AnalysisError(f"scale must be a positive number, got {scale}")
    side = Alternative(alternative)
    n_arr = np.asarray(n, dtype=float)
    x_arr = np.asarray(x, dtype=float)
    p = np.asarray(p0, dtype=float)
    if np.any((p <= 0.0) | (p >= 1.0)):
        raise AnalysisError("p0 must lie strictly between 0 and 1")
    a, b = _prior(p, scale)
    misses = n_arr - x_arr
    log_e = (
        special.betaln(a + x_arr, b + misses)
        - special.betaln(a, b)
        - x_arr * np.log(p)
        - misses * np.log1p(-p)
    )
    with np.errstate(divide="ignore"):
        if side is Alternative.GREATER:
            log_e = log_e + np.log(special.betaincc(a + x_arr, b + misses, p))
            log_e = log_e - np.log(special.betaincc(a, b, p))
        elif side is Alternative.LESS:
            log_e = log_e + np.log(special.betainc(a + x_arr, b + misses, p))
            log_e = log_e - np.log(special.betainc(a, b, p))
    return float(log_e) if np.ndim(log_e) == 0 else log_e


def _logit(p: float) -> float:
    return math.log(p) - math.log1p(-p)


def _expit(u: float) -> float:
    return float(special.expit(u))


def _search(gap: Callable[[float], float], start: float, end: float) -> float | None:
    """Root of ``gap`` (log e - log(1/alpha)) on the logit scale between start and end.

    ``None`` when ``gap`` never reaches zero (the bound is the edge of [0, 1]).
    """
    if gap(end) < 0.0:
        return None
    if gap(start) >= 0.0:
        return start
    return float(optimize.brentq(gap, start, end, xtol=1e-9))


def proportion_confidence_sequence(
    prop: Proportion, alpha: float = 0.05, scale: float = DEFAULT_LOG_ODDS_SCALE
) -> Interval:
    """Two-sided exact always-valid interval ``{p0 : e_n(p0) < 1/alpha}`` for a rate."""
    if not 0.0 < alpha < 1.0:
        raise AnalysisError(f"alpha must be in (0, 1), got {alpha}")
    if prop.n == 0:
        return Interval(0.0, 1.0)
    target = math.log(1.0 / alpha)
    centre = _logit(min(max(prop.rate, _EDGE), 1.0 - _EDGE))

    def gap(u: float) -> float:
        return float(beta_binomial_log_e(prop.n, prop.events, _expit(u), scale=scale)) - target

    lo_u, hi_u = _logit(_EDGE), _logit(1.0 - _EDGE)
    lower = _search(gap, centre, lo_u) if prop.events > 0 else None
    upper = _search(gap, centre, hi_u) if prop.events < prop.n else None
    return Interval(
        0.0 if lower is None else _expit(lower), 1.0 if upper is None else _expit(upper)
    )


def proportion_bounds(
    prop: Proportion, alpha: float = 0.05, scale: float = DEFAULT_LOG_ODDS_SCALE
) -> Interval:
    """One-sided exact always-valid bounds, each at level ``alpha``.

    ``lower`` is where the truncated test of ``p <= p0`` starts rejecting, ``upper``
    where the test of ``p >= p0`` does; together they are a 1 - 2*alpha interval. The
    hard limits use them: breach when ``lower > limit``, compliance when
    ``upper <= limit``.
    """
    if not 0.0 < alpha < 1.0:
        raise AnalysisError(f"alpha must be in (0, 1), got {alpha}")
    if prop.n == 0:
        return Interval(0.0, 1.0)
    target = math.log(1.0 / alpha)
    centre = _logit(min(max(prop.rate, _EDGE), 1.0 - _EDGE))

    def gap_low(u: float) -> float:
        log_e = beta_binomial_log_e(
            prop.n, prop.events, _expit(u), alternative=Alternative.GREATER, scale=scale
        )
        return float(log_e) - target

    def gap_high(u: float) -> float:
        log_e = beta_binomial_log_e(
            prop.n, prop.events, _expit(u), alternative=Alternative.LESS, scale=scale
        )
        return float(log_e) - target

    lower = _search(gap_low, centre, _logit(_EDGE)) if prop.events > 0 else None
    upper = _search(gap_high, centre, _logit(1.0 - _EDGE)) if prop.events < prop.n else None
    return Interval(
        0.0 if lower is None else _expit(lower), 1.0 if upper is None else _expit(upper)
    )
