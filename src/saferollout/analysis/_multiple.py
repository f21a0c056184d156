"""Family-wise error control across guardrail metrics.

Holm (1979), "A simple sequentially rejective multiple test procedure". Applied to
always-valid p-values at every look it keeps the family-wise error below alpha over
the whole rollout: its first step is Bonferroni, and the event "some true null ever
gets p <= alpha/m0" has probability at most alpha by a union bound over the
time-uniform guarantees of each p-value.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._errors import AnalysisError

__all__ = ["holm_adjust"]


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values (same order as given; reject where <= alpha).

    ``adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))`` over the sorted p-values,
    as statsmodels' ``multipletests(method="holm")``.
    """
    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return []
    if np.any(np.isnan(p)) or np.any((p < 0) | (p > 1)):
        raise AnalysisError("p-values must lie in [0, 1]")
    order = np.argsort(p, kind="stable")
    m = p.size
    stepped = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted_sorted = np.maximum.accumulate(stepped)
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return [float(v) for v in adjusted]
