"""Sample ratio mismatch: are the versions getting the traffic they were given?

If routing sends 13% of requests to a 10% canary, something between the router and
the records is biased (dropped records, retries counted twice, a sticky key that is
not random) and every comparison is suspect. Two tests on the assignment counts:

* Pearson's chi-squared against the configured weights: the familiar number,
  valid for one look only.
* The sequential Dirichlet-multinomial test of Lindon & Malek (2022),
  "Anytime-valid inference for multinomial count data", NeurIPS: the Bayes factor

      BF = [G(A) / G(A + n)] prod_i G(a_i + x_i) / G(a_i)  /  prod_i w_i^x_i,

  a_i = A w_i, is an e-process under the configured weights ``w``, so
  ``min(1, 1/BF)`` may be checked at every tick. Its p-value decides ``mismatch``.

The concentration ``A`` sets the relative imbalance the test is tuned for: Var of
log-odds of arm i under the prior is ~ 1 / (A w_i (1 - w_i)), so
``A = 1 / (scale^2 min_i w_i (1 - w_i))`` targets a relative deviation of ``scale``
on the smallest arm (default 10%: a 10% canary receiving 11%).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special
from scipy import stats as sps

from ._errors import AnalysisError

__all__ = ["DEFAULT_SRM_ALPHA", "SRMResult", "sample_ratio_mismatch"]

DEFAULT_SRM_ALPHA = 0.001
"""Conventional SRM threshold (Fabijan et al. 2019, "Diagnosing sample ratio
mismatch in online controlled experiments", KDD): a false alarm freezes a rollout,
so it should be rare."""


@dataclass(frozen=True, slots=True)
class SRMResult:
    arms: tuple[str, ...]
    counts: tuple[int, ...]
    expected_shares: tuple[float, ...]
    chi_squared: float
    chi_squared_p_value: float
    """Fixed-horizon p-value: for the report, not for decisions."""
    sequential_p_value: float
    """Always-valid p-value of the Dirichlet-multinomial test: decides ``mismatch``."""
    alpha: float

    __json_extra__ = ("mismatch", "observed_shares")

    @property
    def mismatch(self) -> bool:
        return self.sequential_p_value <= self.alpha

    @property
    def observed_shares(self) -> tuple[float, ...]:
        total = sum(self.counts)
        return tuple(c / total if total else 0.0 for c in self.counts)


def sample_ratio_mismatch(
    counts: Mapping[str, int] | Sequence[int],
    weights: Mapping[str, float] | Sequence[float],
    *,
    alpha: float = DEFAULT_SRM_ALPHA,
    scale: float = 0.1,
) -> SRMResult:
    """Test assignment counts per arm against configured weights (any positive scale).

    An arm with weight 0 that received traffic is a mismatch outright.
    """
    if not 0.0 < alpha < 1.0:
        raise AnalysisError(f"alpha must be in (0, 1), got {alpha}")
    if not scale > 0:
        raise AnalysisError(f"scale must be positive, got {scale}")
    if isinstance(counts, Mapping):
        if not isinstance(weights, Mapping) or set(counts) != set(weights):
            raise AnalysisError("counts and weights must name the same arms")
        arms = tuple(sorted(counts))
        x = np.array([counts[a] for a in arms], dtype=float)
        w = np.array([weights[a] for a in arms], dtype=float)
    else:
        if isinstance(weights, Mapping) or len(counts) != len(weights):
            raise AnalysisError("counts and weights must have the same length")
        arms = tuple(str(i) for i in range(len(counts)))
        x = np.asarray(counts, dtype=float)
        w = np.asarray(weights, dtype=float)
    if x.size < 2:
        raise AnalysisError("SRM needs at least two arms")
    if np.any(x < 0) or np.any(x != np.round(x)):
        raise AnalysisError("counts must be non-negative integers")
    if np.any(w < 0) or not np.isfinite(w).all() or w.sum() <= 0:
        raise AnalysisError("weights must be non-negative with a positive sum")
    shares = w / w.sum()
    n = float(x.sum())
    live = shares > 0

    if np.any(x[~live] > 0):  # traffic where none was configured
        chi2, chi2_p, seq_p = math.inf, 0.0, 0.0
    elif n == 0 or live.sum() < 2:
        chi2, chi2_p, seq_p = 0.0, 1.0, 1.0
    else:
        xl, sl = x[live], shares[live]
        expected = n * sl
        chi2 = float(np.sum((xl - expected) ** 2 / expected))
        chi2_p = float(sps.chi2.sf(chi2, df=xl.size - 1))
        concentration = 1.0 / (scale * scale * float(np.min(sl * (1.0 - sl))))
        a = concentration * sl
        log_bf = (
            special.gammaln(concentration)
            - special.gammaln(concentration + n)
            + float(np.sum(special.gammaln(a + xl) - special.gammaln(a)))
            - float(np.sum(xl * np.log(sl)))
        )
        seq_p = math.exp(-max(log_bf, 0.0))
    return SRMResult(
        arms=arms,
        counts=tuple(int(c) for c in x),
        expected_shares=tuple(float(s) for s in shares),
        chi_squared=chi2,
        chi_squared_p_value=chi2_p,
        sequential_p_value=seq_p,
        alpha=alpha,
    )
