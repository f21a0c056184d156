"""Bernoulli CUSUM on a violation rate, for vigilance after promotion.

Page's (1954) CUSUM accumulates the log-likelihood ratio of "rate p1" against "rate
p0" and resets at zero; it is the fastest detector of a change at an unknown time
for a given false-alarm run length (Lorden 1971; Moustakides 1986). For Bernoulli
data the increments are ``log(p1/p0)`` per event and ``log((1-p1)/(1-p0)) < 0`` per
non-event. As in Reynolds & Stoumbos (1999), "A CUSUM chart for monitoring a
proportion when inspecting continuously", J. Quality Technology 31(1), the chart
runs on integers: a non-event counts -1 and an event ``+m``, with ``m`` the rounded
ratio of the two increments, so the statistic lives on ``0 .. H-1``. The run length
is then a Markov chain (Brook & Evans 1972) and the average run length (ARL) comes
from one banded linear solve, exactly for the chart as run, not from an
approximation; :meth:`BernoulliCusum.design` picks the smallest ``H`` whose in-control
ARL reaches the target.

Batches. The controller feeds counts per tick rather than single requests; adding a
batch at once can only hide resets inside the batch, so the batched statistic never
exceeds the per-request one: false alarms get rarer and detection is delayed by at
most one batch.

Exact design needs ``m * H`` cells of memory (about 4e6 at p0 = 0.1%); rates much
below 1e-3 are refused (aggregate requests, or monitor a broader event).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import linalg

from ._errors import AnalysisError
from ._types import FloatArray

__all__ = ["BernoulliCusum", "CusumState"]

_MAX_CELLS = 20_000_000


@dataclass(frozen=True, slots=True)
class CusumState:
    statistic: int = 0
    alarm: bool = False
    n: int = 0
    """Requests seen since the chart (re)started."""


@dataclass(frozen=True, slots=True)
class BernoulliCusum:
    """An integer Bernoulli CUSUM: +``step_up`` per event, -1 per non-event, alarm at
    ``threshold``."""

    p0: float
    p1: float
    step_up: int
    threshold: int

    @property
    def unit(self) -> float:
        """Log-likelihood ratio of one integer step, ``-log((1-p1)/(1-p0))``."""
        return math.log((1.0 - self.p0) / (1.0 - self.p1))

    @property
    def threshold_llr(self) -> float:
        """The alarm threshold ``h`` on the log-likelihood-ratio scale."""
        return self.threshold * self.unit

    @classmethod
    def design(cls, p0: float, p1: float, arl0: float) -> BernoulliCusum:
        """The chart for a change from ``p0`` to ``p1 > p0`` whose in-control ARL is at
        least ``arl0`` requests (smallest such threshold)."""
        if not 0.0 < p0 < p1 < 1.0:
            raise AnalysisError(f"need 0 < p0 < p1 < 1, got p0={p0}, p1={p1}")
        if not arl0 > 1.0:
            raise AnalysisError(f"arl0 must exceed 1, got {arl0}")
        unit = math.log((1.0 - p0) / (1.0 - p1))
        step_up = max(1, round(math.log(p1 / p0) / unit))
        hi = step_up + 1
        while cls(p0, p1, step_up, hi).arl(p0) < arl0:
            hi *= 2
            if hi * step_up > _MAX_CELLS:
                raise AnalysisError(f"p0={p0} is too small for an exact design at arl0={arl0}")
        lo = hi // 2
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if cls(p0, p1, step_up, mid).arl(p0) >= arl0:
                hi = mid
            else:
                lo = mid
        return cls(p0, p1, step_up, hi)

    def arl(self, p: float, start: int = 0) -> float:
        """Average run length in requests when the true rate is ``p``, from ``start``.

        Solves ``(I - Q) L = 1`` for the transient states ``0 .. H-1``, where ``Q``
        moves up by ``step_up`` with probability ``p`` and down by one (floored at 0)
        otherwise. ``Q`` has one sub-diagonal and ``step_up`` super-diagonals.
        """
        if not 0.0 <= p <= 1.0:
            raise AnalysisError(f"p must be in [0, 1], got {p}")
        h, m = self.threshold, self.step_up
        if not 0 <= start < h:
            raise AnalysisError(f"start must be in [0, {h}), got {start}")
        if h * m > _MAX_CELLS:
            raise AnalysisError("chart too large for an exact ARL")
        if p == 0.0:
            return math.inf
        # Banded storage for scipy.linalg.solve_banded with (l, u) = (1, m):
        # ab[m + i - j, j] = A[i, j].
        ab = np.zeros((m + 2, h))
        ab[m, :] = 1.0  # diagonal
        ab[m, 0] -= 1.0 - p  # state 0 stays at 0 on a non-event
        ab[m + 1, :-1] = -(1.0 - p)  # A[i, i-1] for i >= 1
        if m < h:
            ab[0, m:] = -p  # A[i, i+m] for i + m < h
        arl = linalg.solve_banded((1, m), ab, np.ones(h))
        return float(arl[start])

    def update(self, state: CusumState, n: int, events: int) -> CusumState:
        """Add a batch of ``n`` requests with ``events`` events. An alarm is sticky until
        the caller starts a new :class:`CusumState`."""
        if n < 0 or not 0 <= events <= n:
            raise AnalysisError(f"need 0 <= events <= n, got n={n}, events={events}")
        if state.alarm:
            return CusumState(state.statistic, True, state.n + n)
        statistic = max(0, state.statistic + self.step_up * events - (n - events))
        return CusumState(statistic, statistic >= self.threshold, state.n + n)

    def path(self, flags: ArrayLike) -> FloatArray:
        """The per-request statistic for a 0/1 sequence (for plots and tests)."""
        arr = np.asarray(flags, dtype=int).ravel()
        out = np.empty(arr.size)
        s = 0
        for i, y in enumerate(arr):
            s = max(0, s + (self.step_up if y else -1))
            out[i] = s
        return out

    def run_length(self, flags: ArrayLike) -> int | None:
        """1-based index of the first alarm in a 0/1 sequence, or None."""
        hits = np.flatnonzero(self.path(flags) >= self.threshold)
        return int(hits[0]) + 1 if hits.size else None
