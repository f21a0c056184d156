"""Normal-mixture always-valid tests and confidence sequences.

For a standardised statistic ``z`` computed on ``t`` observations (``t`` is the
"intrinsic time": the sample size, or the effective sample size
``1 / (1/n_c + 1/n_s)`` of a two-sample comparison), mixing the Gaussian likelihood
ratio ``exp(theta*S - theta^2*t/2)`` (``S = z*sqrt(t)``) over ``theta ~ N(0, rho^2)``
gives Robbins' (1970) normal-mixture martingale

    e_t = (1 + rho^2 t)^(-1/2) * exp(rho^2 t z^2 / (2 (1 + rho^2 t))).

By Ville's inequality P(exists t: e_t >= 1/alpha) <= alpha, so ``1/e_t`` is an
always-valid p-value and ``{mu : e_t(mu) < 1/alpha}`` a confidence sequence that may
be checked after every request. With a plug-in variance the guarantee is asymptotic:
Waudby-Smith, Arbour, Sinha, Kennedy, Ramdas (2024), "Time-uniform central limit
theory and asymptotic confidence sequences", Ann. Statist. 52(6); the same statistic
is the mSPRT of Johari, Koomen, Pekelis, Walsh (2017/2022), "Always valid inference".

The one-sided versions mix over a half-normal ``theta >= 0`` instead, which is about
twice as strong for a directional question (harm, non-inferiority):

    e_t = 2 (1 + x)^(-1/2) exp(x z^2 / (2 (1 + x))) Phi(z sqrt(x / (1 + x))),  x = rho^2 t.

``rho`` is the standardised effect (difference / per-observation sd) the boundary is
tuned for: the boundary is tightest near ``t* ~ 2 log(1/alpha) / rho^2``
(:func:`rho_for_sample_size` gives the optimum stated by Waudby-Smith et al. 2024).
Every choice keeps the error guarantee; only the speed of detection changes.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, special

from ._errors import AnalysisError
from ._stats import Interval, MeanStats
from ._types import Alternative, FloatOrArray

__all__ = [
    "DEFAULT_MEAN_RHO",
    "log_e_to_p_value",
    "mean_confidence_sequence",
    "normal_mixture_log_e",
    "normal_mixture_radius",
    "one_sided_radius",
    "rho_for_sample_size",
]

DEFAULT_MEAN_RHO = 0.1
"""Default ``rho`` for continuous metrics: tuned to a shift of 0.1 standard deviations,
e.g. a 10% latency increase at a coefficient of variation near 1."""


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise AnalysisError(f"alpha must be in (0, 1), got {alpha}")


def _check_rho(rho: float) -> None:
    if not (rho > 0.0 and math.isfinite(rho)):
        raise AnalysisError(f"rho must be a positive number, got {rho}")


def normal_mixture_log_e(
    z: ArrayLike, t: ArrayLike, rho: float, alternative: Alternative | str = "two-sided"
) -> FloatOrArray:
    """Log e-value of the normal mixture at standardised statistic ``z`` and time ``t``.

    Vectorised over ``z`` and ``t`` (the benchmark evaluates millions of looks at once).
    ``t = 0`` gives ``log e = 0``: no data, no evidence.
    """
    _check_rho(rho)
    side = Alternative(alternative)
    z_arr = np.asarray(z, dtype=float)
    x = rho * rho * np.maximum(np.asarray(t, dtype=float), 0.0)
    if side is Alternative.LESS:
        z_arr = -z_arr
    log_e = -0.5 * np.log1p(x) + x * z_arr * z_arr / (2.0 * (1.0 + x))
    if side is not Alternative.TWO_SIDED:
        log_e = log_e + math.log(2.0) + special.log_ndtr(z_arr * np.sqrt(x / (1.0 + x)))
    return float(log_e) if np.ndim(log_e) == 0 else log_e


def log_e_to_p_value(log_e: ArrayLike) -> FloatOrArray:
    """Always-valid p-value ``min(1, 1/e)`` from a log e-value (Ville's inequality)."""
    p = np.exp(-np.maximum(np.asarray(log_e, dtype=float), 0.0))
    return float(p) if np.ndim(p) == 0 else p


def normal_mixture_radius(t: ArrayLike, rho: float, alpha: float) -> FloatOrArray:
    """Two-sided boundary on the z scale: the sequence is ``estimate +- radius * se``.

    Closed form of ``e_t(z) = 1/alpha``; infinite at ``t = 0``.
    """
    _check_rho(rho)
    _check_alpha(alpha)
    x = rho * rho * np.asarray(t, dtype=float)
    with np.errstate(divide="ignore"):
        radius = np.sqrt((1.0 + 1.0 / x) * (np.log1p(x) + 2.0 * math.log(1.0 / alpha)))
    radius = np.where(x > 0, radius, np.inf)
    return float(radius) if np.ndim(radius) == 0 else radius


def one_sided_radius(t: float, rho: float, alpha: float) -> float:
    """Boundary ``z`` where the half-normal one-sided e-value reaches ``1/alpha``.

    No closed form; solved with Brent's method between 0 and the two-sided radius
    (the one-sided e-value is at least the two-sided one for ``z >= 0``).
    """
    _check_alpha(alpha)
    if t <= 0:
        return math.inf
    target = math.log(1.0 / alpha)
    upper = float(normal_mixture_radius(t, rho, alpha))

    def gap(z: float) -> float:
        return float(normal_mixture_log_e(z, t, rho, Alternative.GREATER)) - target

    if gap(upper) <= 0:  # numerically at the two-sided boundary already
        return upper
    return float(optimize.brentq(gap, 0.0, upper, xtol=1e-10))


def rho_for_sample_size(t_star: float, alpha: float) -> float:
    """``rho`` that makes the two-sided boundary tightest at intrinsic time ``t_star``.

    Waudby-Smith et al. (2024): ``rho^2 = (-2 log a + log(1 - 2 log a)) / t*``.
    """
    _check_alpha(alpha)
    if t_star <= 0:
        raise AnalysisError(f"t_star must be positive, got {t_star}")
    two_log = -2.0 * math.log(alpha)
    return math.sqrt((two_log + math.log(1.0 + two_log)) / t_star)


def mean_confidence_sequence(
    stats: MeanStats, alpha: float = 0.05, rho: float = DEFAULT_MEAN_RHO
) -> Interval:
    """Asymptotic always-valid interval for one mean (Waudby-Smith et al. 2024, Thm 2.2).

    Unbounded until there are two observations (no variance estimate yet).
    """
    if stats.n < 2:
        return Interval(-math.inf, math.inf)
    se = stats.std / math.sqrt(stats.n)
    radius = float(normal_mixture_radius(stats.n, rho, alpha)) * se
    return Interval(stats.mean - radius, stats.mean + radius)
