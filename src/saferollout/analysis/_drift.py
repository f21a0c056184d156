"""Distribution shift of output features and embeddings between two windows.

With thousands of responses per window every shift is "significant", so drift is
judged on effect sizes, with a significance check only to keep small windows from
crying wolf:

* PSI, population stability index over the baseline's deciles,
  ``sum (a - e) ln(a / e)``; the credit-scoring rule of thumb (Siddiqi 2006) reads
  < 0.1 as stable, 0.1-0.25 as moderate, > 0.25 as a major shift.
* KS, the two-sample Kolmogorov-Smirnov distance D (largest gap between the CDFs).
* Wasserstein-1 distance divided by the baseline's standard deviation, so that
  "0.1" means "mass moved by a tenth of a standard deviation on average" whatever
  the feature's unit.

A feature drifts when an effect size crosses its threshold *and* KS rejects at
``alpha``. For embeddings, :func:`mmd_test` runs the kernel two-sample test of
Gretton et al. (2012), "A kernel two-sample test", JMLR 13, with a Gaussian kernel
at the median-distance bandwidth and a permutation p-value, on subsamples so that a
tick stays fast.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as sps

from ._errors import AnalysisError
from ._types import FloatArray

__all__ = [
    "DriftThresholds",
    "FeatureDrift",
    "MMDResult",
    "drift_report",
    "feature_drift",
    "mmd_test",
    "population_stability_index",
]

_PSI_FLOOR = 1e-4  # share given to an empty bin, so ln(a/e) stays finite


def _clean_1d(values: ArrayLike, name: str) -> FloatArray:
    arr = np.asarray(values, dtype=float).ravel()
    if not np.isfinite(arr).all():
        raise AnalysisError(f"{name} must be finite")
    return arr


def population_stability_index(baseline: ArrayLike, current: ArrayLike, *, bins: int = 10) -> float:
    """PSI over (up to) ``bins`` quantile bins of the baseline; 0.0 if a side is empty.

    Quantile edges are de-duplicated, so a discrete feature gets one bin per value.
    """
    base = _clean_1d(baseline, "baseline")
    cur = _clean_1d(current, "current")
    if base.size == 0 or cur.size == 0:
        return 0.0
    if bins < 2:
        raise AnalysisError(f"bins must be >= 2, got {bins}")
    edges = np.unique(np.quantile(base, np.linspace(0.0, 1.0, bins + 1))[1:-1])
    expected = np.bincount(np.searchsorted(edges, base, side="right"), minlength=edges.size + 1)
    actual = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=edges.size + 1)
    e = np.maximum(expected / base.size, _PSI_FLOOR)
    a = np.maximum(actual / cur.size, _PSI_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True, slots=True)
class DriftThresholds:
    psi: float = 0.2
    ks: float = 0.1
    wasserstein: float = 0.1
    """Wasserstein-1 distance in baseline standard deviations."""
    alpha: float = 0.01
    """KS must also reject at this level (keeps small windows quiet)."""
    min_samples: int = 50
    """Per window; below it the result is marked insufficient, never drifted."""


@dataclass(frozen=True, slots=True)
class FeatureDrift:
    feature: str
    n_baseline: int
    n_current: int
    psi: float
    ks_statistic: float
    ks_p_value: float
    wasserstein: float
    """Normalised by the baseline standard deviation."""
    sufficient: bool
    drifted: bool
    reasons: tuple[str, ...] = field(default=())


def feature_drift(
    baseline: ArrayLike,
    current: ArrayLike,
    *,
    feature: str = "",
    thresholds: DriftThresholds | None = None,
) -> FeatureDrift:
    """Compare one feature's values between a baseline window and the current one."""
    th = thresholds or DriftThresholds()
    base = _clean_1d(baseline, "baseline")
    cur = _clean_1d(current, "current")
    sufficient = min(base.size, cur.size) >= max(th.min_samples, 1)
    if base.size == 0 or cur.size == 0:
        return FeatureDrift(feature, base.size, cur.size, 0.0, 0.0, 1.0, 0.0, False, False)
    psi = population_stability_index(base, cur)
    ks = sps.ks_2samp(base, cur)
    spread = float(np.std(base))
    w1 = float(sps.wasserstein_distance(base, cur))
    # On a constant baseline any movement at all is a shift.
    wasserstein = w1 / spread if spread > 0.0 else (math.inf if w1 > 0.0 else 0.0)
    reasons = []
    if psi >= th.psi:
        reasons.append(f"PSI {psi:.3f} >= {th.psi}")
    if ks.statistic >= th.ks:
        reasons.append(f"KS D {ks.statistic:.3f} >= {th.ks}")
    if wasserstein >= th.wasserstein:
        reasons.append(f"Wasserstein {wasserstein:.3f} sd >= {th.wasserstein}")
    drifted = sufficient and bool(reasons) and float(ks.pvalue) <= th.alpha
    return FeatureDrift(
        feature=feature,
        n_baseline=int(base.size),
        n_current=int(cur.size),
        psi=psi,
        ks_statistic=float(ks.statistic),
        ks_p_value=float(ks.pvalue),
        wasserstein=wasserstein,
        sufficient=sufficient,
        drifted=drifted,
        reasons=tuple(reasons) if drifted else (),
    )


def drift_report(
    baseline: Mapping[str, ArrayLike],
    current: Mapping[str, ArrayLike],
    *,
    thresholds: DriftThresholds | None = None,
) -> dict[str, FeatureDrift]:
    """:func:`feature_drift` for every feature present in both windows."""
    return {
        name: feature_drift(baseline[name], current[name], feature=name, thresholds=thresholds)
        for name in baseline
        if name in current
    }


@dataclass(frozen=True, slots=True)
class MMDResult:
    mmd2: float
    """Unbiased estimate of the squared maximum mean discrepancy."""
    p_value: float
    bandwidth: float
    n_baseline: int
    n_current: int
    permutations: int
    alpha: float

    __json_extra__ = ("drifted",)

    @property
    def drifted(self) -> bool:
        return self.p_value <= self.alpha


def _unbiased_mmd2(kernel: FloatArray, in_x: FloatArray) -> FloatArray:
    """Unbiased MMD^2 for each column of the 0/1 membership matrix ``in_x`` (N x B).

    The Gaussian kernel has ones on its diagonal; block sums come from one matrix
    product instead of a loop over permutations.
    """
    n = in_x[:, 0].sum()
    m = in_x.shape[0] - n
    k_in = kernel @ in_x
    s_xx_full = np.sum(in_x * k_in, axis=0)
    s_xy = k_in.sum(axis=0) - s_xx_full
    s_yy_full = kernel.sum() - 2.0 * s_xy - s_xx_full
    within = (s_xx_full - n) / (n * (n - 1)) + (s_yy_full - m) / (m * (m - 1))
    mmd2: FloatArray = within - 2.0 * s_xy / (n * m)
    return mmd2


def mmd_test(
    baseline: ArrayLike,
    current: ArrayLike,
    *,
    max_samples: int = 500,
    permutations: int = 200,
    alpha: float = 0.01,
    seed: int = 0,
    bandwidth: float | None = None,
) -> MMDResult:
    """Kernel two-sample test on embeddings (rows are vectors), subsampled and seeded."""
    x = np.asarray(baseline, dtype=float)
    y = np.asarray(current, dtype=float)
    x = x.reshape(len(x), -1) if x.ndim == 1 else x
    y = y.reshape(len(y), -1) if y.ndim == 1 else y
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise AnalysisError("embeddings must be 2-D arrays with the same width")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise AnalysisError("embeddings must be finite")
    if permutations < 1 or max_samples < 2:
        raise AnalysisError("need permutations >= 1 and max_samples >= 2")
    rng = np.random.default_rng(seed)
    if len(x) > max_samples:
        x = x[rng.choice(len(x), max_samples, replace=False)]
    if len(y) > max_samples:
        y = y[rng.choice(len(y), max_samples, replace=False)]
    n, m = len(x), len(y)
    if n < 2 or m < 2:
        return MMDResult(0.0, 1.0, bandwidth or 0.0, n, m, 0, alpha)

    pooled = np.vstack([x, y])
    sq = np.sum(pooled * pooled, axis=1)
    dist2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * pooled @ pooled.T, 0.0)
    if bandwidth is None:
        off_diag = dist2[np.triu_indices(n + m, k=1)]
        positive = off_diag[off_diag > 0]
        bandwidth = math.sqrt(float(np.median(positive))) if positive.size else 1.0
    kernel = np.exp(-dist2 / (2.0 * bandwidth * bandwidth))

    labels = np.zeros((n + m, 1))
    labels[:n] = 1.0
    observed = float(_unbiased_mmd2(kernel, labels)[0])
    exceed = 0
    done = 0
    while done < permutations:
        batch = min(100, permutations - done)
        perm = np.argsort(rng.random((n + m, batch)), axis=0) < n
        exceed += int(np.sum(_unbiased_mmd2(kernel, perm.astype(float)) >= observed))
        done += batch
    return MMDResult(
        mmd2=observed,
        p_value=(1 + exceed) / (1 + permutations),
        bandwidth=bandwidth,
        n_baseline=n,
        n_current=m,
        permutations=permutations,
        alpha=alpha,
    )
