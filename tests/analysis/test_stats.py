from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from saferollout.analysis import AnalysisError, Interval, MeanStats, Proportion

from ._hypothesis import PROPERTY


def test_proportion_rate_and_variance() -> None:
    p = Proportion(200, 5)
    assert p.rate == 0.025
    assert p.variance == pytest.approx(0.025 * 0.975)
    assert not p.empty


def test_empty_proportion_guards_zero() -> None:
    p = Proportion()
    assert p.empty
    assert p.rate == 0.0
    assert p.variance == 0.0


@pytest.mark.parametrize(
    ("n", "events"), [(-1, 0), (5, 6), (1.5, 0), (10, -2), (math.nan, 0), ("x", 0)]
)
def test_proportion_rejects_bad_counts(n: object, events: object) -> None:
    with pytest.raises(AnalysisError):
        Proportion(n, events)  # type: ignore[arg-type]


def test_proportion_accepts_numpy_integers() -> None:
    p = Proportion(np.int64(10), np.int32(3))  # type: ignore[arg-type]
    assert (p.n, p.events) == (10, 3)
    assert type(p.n) is int


def test_proportion_from_flags() -> None:
    assert Proportion.from_flags([0, 1, 1, 0, True]) == Proportion(5, 3)
    assert Proportion.from_flags([]) == Proportion()
    with pytest.raises(AnalysisError):
        Proportion.from_flags([0, 2])


def test_mean_stats_from_values_matches_numpy() -> None:
    values = np.array([0.2, 0.5, 0.9, 1.4, 0.3])
    s = MeanStats.from_values(values)
    assert s.mean == pytest.approx(values.mean())
    assert s.variance == pytest.approx(values.var(ddof=1))
    assert s.std == pytest.approx(values.std(ddof=1))


def test_mean_stats_guards_small_samples() -> None:
    assert MeanStats().mean == 0.0
    assert MeanStats().variance == 0.0
    assert MeanStats.from_values([3.0]).variance == 0.0


def test_mean_stats_variance_never_negative() -> None:
    # Rounding in sum_squares - sum^2/n can go slightly negative for constants.
    s = MeanStats.from_values([0.1] * 1000)
    assert s.variance >= 0.0
    assert s.variance == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n": 0, "sum": 1.0},
        {"n": 2, "sum": 1.0, "sum_squares": -1.0},
        {"n": 2, "sum": math.inf},
    ],
)
def test_mean_stats_rejects_inconsistent_sums(kwargs: dict[str, float]) -> None:
    with pytest.raises(AnalysisError):
        MeanStats(**kwargs)  # type: ignore[arg-type]


def test_interval_helpers() -> None:
    i = Interval(-1.0, 2.0)
    assert i.width == 3.0
    assert i.contains(0.0) and not i.contains(3.0)
    assert i.above(-2.0) and not i.above(0.0)
    assert i.below(2.5) and not i.below(1.0)
    assert i.as_tuple() == (-1.0, 2.0)
    with pytest.raises(AnalysisError):
        Interval(1.0, 0.0)


_counts = st.integers(0, 10_000)


@PROPERTY
@given(_counts, _counts, _counts, _counts)
def test_pooling_proportions_adds_counts(n1: int, k1: int, n2: int, k2: int) -> None:
    a, b = Proportion(n1, min(k1, n1)), Proportion(n2, min(k2, n2))
    pooled = a + b
    assert pooled == Proportion(n1 + n2, a.events + b.events)
    assert 0.0 <= pooled.rate <= 1.0


_values = st.lists(st.floats(-1e3, 1e3, allow_nan=False), max_size=40)


@PROPERTY
@given(_values, _values)
def test_pooling_mean_stats_equals_concatenation(xs: list[float], ys: list[float]) -> None:
    pooled = MeanStats.from_values(xs) + MeanStats.from_values(ys)
    direct = MeanStats.from_values(xs + ys)
    assert pooled.n == direct.n
    assert pooled.mean == pytest.approx(direct.mean, abs=1e-9)
    assert pooled.variance == pytest.approx(direct.variance, rel=1e-6, abs=1e-6)
