from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saferollout.analysis import AnalysisError, holm_adjust

from ._hypothesis import PROPERTY


def test_known_example() -> None:
    # By hand: sorted 0.005*4, 0.01*3, 0.03*2, 0.04*1 -> running max 0.02, 0.03, 0.06, 0.06.
    assert holm_adjust([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_empty_and_single() -> None:
    assert holm_adjust([]) == []
    assert holm_adjust([0.2]) == [0.2]


def test_caps_at_one() -> None:
    assert holm_adjust([0.6, 0.7]) == [1.0, 1.0]


@pytest.mark.parametrize("bad", [[-0.1], [1.5], [float("nan")]])
def test_rejects_non_probabilities(bad: list[float]) -> None:
    with pytest.raises(AnalysisError):
        holm_adjust(bad)


@PROPERTY
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=12))
def test_properties(p: list[float]) -> None:
    adjusted = holm_adjust(p)
    m = len(p)
    for raw, adj in zip(p, adjusted, strict=True):
        assert raw <= adj + 1e-15 <= 1.0 + 1e-15
        assert adj <= min(1.0, m * raw) + 1e-12  # never worse than Bonferroni
    order = sorted(range(m), key=lambda i: p[i])
    assert [adjusted[i] for i in order] == sorted(adjusted[i] for i in order)
