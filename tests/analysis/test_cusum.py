from __future__ import annotations

import math

import numpy as np
import pytest

from saferollout.analysis import AnalysisError, BernoulliCusum, CusumState


def _dense_arl(chart: BernoulliCusum, p: float) -> np.ndarray:
    """Brook & Evans by a dense solve, written independently of the banded one."""
    h, m = chart.threshold, chart.step_up
    q = np.zeros((h, h))
    for s in range(h):
        q[s, max(s - 1, 0)] += 1 - p
        if s + m < h:
            q[s, s + m] += p
    return np.linalg.solve(np.eye(h) - q, np.ones(h))


def test_banded_arl_matches_dense_solve() -> None:
    chart = BernoulliCusum(p0=0.05, p1=0.1, step_up=13, threshold=60)
    dense = _dense_arl(chart, 0.05)
    assert chart.arl(0.05) == pytest.approx(dense[0], rel=1e-10)
    assert chart.arl(0.05, start=20) == pytest.approx(dense[20], rel=1e-10)


def test_arl_matches_simulation() -> None:
    """Per-request chart simulated across runs at once; spot-checked with run_length."""
    chart = BernoulliCusum(p0=0.05, p1=0.1, step_up=13, threshold=40)
    rng = np.random.default_rng(0)
    runs = 4_000
    state = np.zeros(runs, dtype=int)
    lengths = np.zeros(runs, dtype=int)
    step = 0
    while (lengths == 0).any():
        step += 1
        events = rng.random(runs) < 0.1
        state = np.maximum(0, state + np.where(events, chart.step_up, -1))
        lengths[(lengths == 0) & (state >= chart.threshold)] = step
    mean, se = lengths.mean(), lengths.std() / math.sqrt(runs)
    assert abs(mean - chart.arl(0.1)) < 4 * se
    flags = np.array([0] * 30 + [1, 1, 1, 0, 1])
    assert chart.run_length(flags) == 35


def test_design_meets_the_target_with_the_smallest_threshold() -> None:
    chart = BernoulliCusum.design(0.01, 0.02, 1e5)
    assert chart.arl(0.01) >= 1e5
    smaller = BernoulliCusum(chart.p0, chart.p1, chart.step_up, chart.threshold - 1)
    assert smaller.arl(0.01) < 1e5
    # The targets: false alarms rarer than 1 in 10^5, a doubling within 1,500.
    assert chart.arl(0.02) <= 1_500


def test_design_uses_the_likelihood_ratio_increments() -> None:
    chart = BernoulliCusum.design(0.01, 0.02, 1e4)
    assert chart.step_up == round(math.log(2) / math.log(0.99 / 0.98))
    assert chart.unit == pytest.approx(math.log(0.99 / 0.98))
    assert chart.threshold_llr == pytest.approx(chart.threshold * chart.unit)


def test_batched_updates_never_exceed_the_per_request_path() -> None:
    chart = BernoulliCusum(p0=0.05, p1=0.1, step_up=13, threshold=10_000)
    rng = np.random.default_rng(1)
    flags = rng.random(5_000) < 0.08
    path = chart.path(flags)
    state = CusumState()
    for start in range(0, 5_000, 50):
        batch = flags[start : start + 50]
        state = chart.update(state, len(batch), int(batch.sum()))
        assert state.statistic <= path[start + len(batch) - 1]
    assert state.n == 5_000


def test_update_raises_and_holds_an_alarm() -> None:
    chart = BernoulliCusum(p0=0.01, p1=0.02, step_up=68, threshold=100)
    state = chart.update(CusumState(), n=2, events=2)
    assert state.alarm and state.statistic == 136
    after = chart.update(state, n=1_000, events=0)
    assert after.alarm and after.n == 1_002


def test_path_floors_at_zero() -> None:
    chart = BernoulliCusum(p0=0.01, p1=0.02, step_up=5, threshold=100)
    np.testing.assert_array_equal(chart.path([0, 1, 0, 0, 0, 0, 0, 0]), [0, 5, 4, 3, 2, 1, 0, 0])
    assert chart.run_length([0, 0, 0]) is None


@pytest.mark.parametrize(
    ("p0", "p1", "arl0"), [(0.02, 0.01, 1e4), (0.0, 0.01, 1e4), (0.01, 0.02, 0.5)]
)
def test_bad_designs(p0: float, p1: float, arl0: float) -> None:
    with pytest.raises(AnalysisError):
        BernoulliCusum.design(p0, p1, arl0)


def test_bad_updates() -> None:
    chart = BernoulliCusum(p0=0.01, p1=0.02, step_up=5, threshold=100)
    with pytest.raises(AnalysisError):
        chart.update(CusumState(), n=3, events=4)
    with pytest.raises(AnalysisError):
        chart.arl(0.01, start=100)
    assert chart.arl(0.0) == math.inf
