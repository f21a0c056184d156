"""Sufficient statistics and intervals.

The controller aggregates counts and sums per version in the database and hands
them here; every test in the package works on these summaries, never on rows, so a
step over 10^6 records costs the same as one over 100. As in GrowthBook's gbstats,
the statistics are frozen dataclasses with ``__add__`` to pool windows and derived
properties that guard against empty data instead of dividing by zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Self

import numpy as np
from numpy.typing import ArrayLike

from ._errors import AnalysisError

__all__ = ["Interval", "MeanStats", "Proportion"]


def _as_count(value: object, name: str) -> int:
    try:
        as_float = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise AnalysisError(f"{name} must be a number, got {value!r}") from exc
    if not math.isfinite(as_float) or as_float < 0 or as_float != int(as_float):
        raise AnalysisError(f"{name} must be a non-negative integer, got {value!r}")
    return int(as_float)


@dataclass(frozen=True, slots=True)
class Proportion:
    """``events`` out of ``n`` requests for a binary per-request metric.

    Events are always the *bad* outcome (violation, error, refusal): the rate tests
    in this package look for an increase.
    """

    n: int = 0
    events: int = 0

    def __post_init__(self) -> None:
        n = _as_count(self.n, "n")
        events = _as_count(self.events, "events")
        if events > n:
            raise AnalysisError(f"events ({events}) cannot exceed n ({n})")
        object.__setattr__(self, "n", n)
        object.__setattr__(self, "events", events)

    @classmethod
    def from_flags(cls, flags: ArrayLike) -> Self:
        """Summarise an array of 0/1 (or bool) flags, one per request."""
        arr = np.asarray(flags)
        if arr.size and not np.isin(arr, (0, 1)).all():
            raise AnalysisError("flags must be 0/1 or booleans")
        return cls(n=int(arr.size), events=int(np.count_nonzero(arr)))

    @property
    def empty(self) -> bool:
        return self.n == 0

    @property
    def rate(self) -> float:
        """Observed rate; 0.0 on no data (check ``empty`` before trusting it)."""
        return self.events / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        """Per-request Bernoulli variance p(1-p) at the observed rate."""
        p = self.rate
        return p * (1.0 - p)

    def __add__(self, other: Proportion) -> Proportion:
        if not isinstance(other, Proportion):
            return NotImplemented
        return Proportion(self.n + other.n, self.events + other.events)


@dataclass(frozen=True, slots=True)
class MeanStats:
    """Count, sum and sum of squares of a continuous metric (latency, length, rating).

    The variance from running sums loses precision only when the mean is huge
    relative to the spread (|mean|/sd > ~1e6), which no metric here approaches.
    """

    n: int = 0
    sum: float = 0.0
    sum_squares: float = 0.0

    def __post_init__(self) -> None:
        n = _as_count(self.n, "n")
        total = float(self.sum)
        squares = float(self.sum_squares)
        if not (math.isfinite(total) and math.isfinite(squares)):
            raise AnalysisError("sum and sum_squares must be finite")
        if squares < 0:
            raise AnalysisError(f"sum_squares must be >= 0, got {squares}")
        if n == 0 and (total != 0.0 or squares != 0.0):
            raise AnalysisError("sum and sum_squares must be 0 when n is 0")
        object.__setattr__(self, "n", n)
        object.__setattr__(self, "sum", total)
        object.__setattr__(self, "sum_squares", squares)

    @classmethod
    def from_values(cls, values: ArrayLike) -> Self:
        arr = np.asarray(values, dtype=float).ravel()
        if arr.size and not np.isfinite(arr).all():
            raise AnalysisError("values must be finite")
        return cls(n=int(arr.size), sum=float(arr.sum()), sum_squares=float(np.dot(arr, arr)))

    @property
    def empty(self) -> bool:
        return self.n == 0

    @property
    def mean(self) -> float:
        """Sample mean; 0.0 on no data (check ``empty``)."""
        return self.sum / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        """Unbiased sample variance; 0.0 below two observations, never negative."""
        if self.n < 2:
            return 0.0
        centred = self.sum_squares - self.sum * self.sum / self.n
        return max(centred, 0.0) / (self.n - 1)

    @property
    def std(self) -> float:
        return math.sqrt(self.variance)

    def __add__(self, other: MeanStats) -> MeanStats:
        if not isinstance(other, MeanStats):
            return NotImplemented
        return MeanStats(
            self.n + other.n, self.sum + other.sum, self.sum_squares + other.sum_squares
        )


@dataclass(frozen=True, slots=True)
class Interval:
    """A closed interval; bounds may be infinite (an unbounded side)."""

    lower: float
    upper: float

    def __post_init__(self) -> None:
        if self.lower > self.upper:
            raise AnalysisError(f"interval lower {self.lower} > upper {self.upper}")

    @property
    def width(self) -> float:
        return self.upper - self.lower

    def contains(self, value: float) -> bool:
        return self.lower <= value <= self.upper

    def above(self, value: float) -> bool:
        """The whole interval lies above ``value``."""
        return self.lower > value

    def below(self, value: float) -> bool:
        """The whole interval lies below ``value``."""
        return self.upper < value

    def as_tuple(self) -> tuple[float, float]:
        return (self.lower, self.upper)
