"""Exact always-valid comparison of two event rates by splitting the events.

When each request goes to the candidate with probability ``pi`` and events happen
with rates ``p_c`` and ``p_s``, an event came from the candidate with probability

    theta = pi * r / (pi * r + 1 - pi),   r = p_c / p_s   (the risk ratio),

independently of every other event. "Candidate no worse than ``r0`` times stable"
becomes "``theta <= theta(r0)``" for a sequence of coin flips, one per event, and the
exact beta-binomial mixture of :mod:`._beta_binomial` applies to ``(x_c + x_s, x_c)``.
This is the two-arm case of the sequential multinomial count test of Lindon & Malek
(2022), "Anytime-valid inference for multinomial count data", NeurIPS, with the
allocation as the null. It needs no normal approximation and no estimate of the
nuisance base rate, so it stays valid on the first handful of events, where a
z-statistic on rare events is not yet normal.

On the prior: ``logit(theta) = logit(pi) + log(r)``, so a Beta prior with log-odds
spread ``scale`` is a prior on the log rate ratio with that spread whatever the
canary share is. ``scale = log 2`` is tuned for a doubling (1% -> 2%); see
``bench/README.md`` for the numbers.

The allocation ``pi`` defaults to the realised share ``n_c / (n_c + n_s)``, which
also stays right when the weights change between steps of the window; it is off
from the configured share by O(1/sqrt(n)) requests, negligible next to the
O(1/sqrt(events)) noise of rare events. Pass ``share`` to test against the
configured weight instead. Sticky assignment by user makes requests of one user
correlated; the test assumes requests, not users, are the independent units.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from ._beta_binomial import (
    DEFAULT_LOG_ODDS_SCALE,
    beta_binomial_log_e,
    proportion_confidence_sequence,
)
from ._errors import AnalysisError
from ._stats import Interval, Proportion
from ._types import Alternative, FloatOrArray

__all__ = ["rate_ratio", "rate_ratio_confidence_sequence", "rate_ratio_log_e"]

_CLIP = 1e-12


def rate_ratio_log_e(
    n_c: ArrayLike,
    x_c: ArrayLike,
    n_s: ArrayLike,
    x_s: ArrayLike,
    ratio: float = 1.0,
    *,
    alternative: Alternative | str = "greater",
    scale: float = DEFAULT_LOG_ODDS_SCALE,
    share: float | None = None,
) -> FloatOrArray:
    """Log e-value against ``p_c / p_s = ratio`` (``<=`` for "greater", ``>=`` for "less").

    Vectorised over the counts. No evidence (``log e = 0``) while an arm has no requests.
    """
    if not (ratio > 0 and math.isfinite(ratio)):
        raise AnalysisError(f"ratio must be a positive number, got {ratio}")
    if share is not None and not 0.0 < share < 1.0:
        raise AnalysisError(f"share must be in (0, 1), got {share}")
    nc = np.asarray(n_c, dtype=float)
    ns = np.asarray(n_s, dtype=float)
    xc = np.asarray(x_c, dtype=float)
    xs = np.asarray(x_s, dtype=float)
    total = nc + ns
    if share is None:
        pi = np.divide(nc, total, out=np.zeros_like(total), where=total > 0)
    else:
        pi = np.full_like(total, share)
    informative = (nc > 0) & (ns > 0)
    pi = np.clip(pi, _CLIP, 1.0 - _CLIP)
    theta0 = np.clip(pi * ratio / (pi * ratio + 1.0 - pi), _CLIP, 1.0 - _CLIP)
    log_e = beta_binomial_log_e(xc + xs, xc, theta0, alternative=alternative, scale=scale)
    log_e = np.where(informative, log_e, 0.0)
    return float(log_e) if np.ndim(log_e) == 0 else log_e


def rate_ratio(candidate: Proportion, stable: Proportion) -> float:
    """Point estimate of ``p_c / p_s``: ``inf`` when only the candidate has events,
    ``nan`` when neither arm has any (the ratio is undefined)."""
    if candidate.empty or stable.empty or (candidate.events == 0 and stable.events == 0):
        return math.nan
    if stable.events == 0:
        return math.inf
    return candidate.rate / stable.rate


def rate_ratio_confidence_sequence(
    candidate: Proportion,
    stable: Proportion,
    alpha: float = 0.05,
    scale: float = DEFAULT_LOG_ODDS_SCALE,
    share: float | None = None,
) -> Interval:
    """Always-valid interval for ``p_c / p_s``: the exact sequence for ``theta``,
    mapped through ``r = theta (1 - pi) / (pi (1 - theta))``. ``[0, inf]`` without data."""
    if candidate.empty or stable.empty:
        return Interval(0.0, math.inf)
    pi = share if share is not None else candidate.n / (candidate.n + stable.n)
    events = Proportion(candidate.events + stable.events, candidate.events)
    theta = proportion_confidence_sequence(events, alpha, scale)

    def to_ratio(t: float) -> float:
        if t >= 1.0:
            return math.inf
        return t * (1.0 - pi) / (pi * (1.0 - t))

    return Interval(to_ratio(theta.lower), to_ratio(theta.upper))
