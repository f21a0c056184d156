from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from saferollout.analysis import (
    AnalysisError,
    DriftThresholds,
    drift_report,
    feature_drift,
    mmd_test,
    population_stability_index,
)


def test_psi_known_answer() -> None:
    # Baseline split evenly over two values; current 80/20.
    base = np.array([0.0] * 50 + [1.0] * 50)
    cur = np.array([0.0] * 80 + [1.0] * 20)
    expected = (0.8 - 0.5) * math.log(0.8 / 0.5) + (0.2 - 0.5) * math.log(0.2 / 0.5)
    assert population_stability_index(base, cur) == pytest.approx(expected)


def test_psi_zero_for_the_same_distribution() -> None:
    x = np.random.default_rng(0).normal(size=5_000)
    assert population_stability_index(x, x) == pytest.approx(0.0)


def test_psi_handles_empty_bins_and_empty_inputs() -> None:
    base = np.arange(100.0)
    assert math.isfinite(population_stability_index(base, np.full(50, 1_000.0)))
    assert population_stability_index([], [1.0]) == 0.0
    with pytest.raises(AnalysisError):
        population_stability_index(base, base, bins=1)


def test_ks_and_wasserstein_against_scipy() -> None:
    rng = np.random.default_rng(1)
    base, cur = rng.normal(0, 2, 1_000), rng.normal(0.5, 2, 800)
    result = feature_drift(base, cur)
    ks = stats.ks_2samp(base, cur)
    assert result.ks_statistic == pytest.approx(ks.statistic)
    assert result.ks_p_value == pytest.approx(ks.pvalue)
    w1 = stats.wasserstein_distance(base, cur) / np.std(base)
    assert result.wasserstein == pytest.approx(w1)


def test_large_shift_drifts() -> None:
    rng = np.random.default_rng(2)
    result = feature_drift(rng.normal(0, 1, 2_000), rng.normal(0.5, 1, 2_000), feature="len")
    assert result.drifted and result.sufficient
    assert result.feature == "len" and result.reasons


def test_tiny_but_significant_shift_does_not_drift() -> None:
    """Effect sizes, not p-values: 0.03 sd over 200k samples is significant but small."""
    rng = np.random.default_rng(3)
    result = feature_drift(rng.normal(0, 1, 200_000), rng.normal(0.03, 1, 200_000))
    assert result.ks_p_value < 0.01
    assert not result.drifted


def test_same_distribution_does_not_drift() -> None:
    rng = np.random.default_rng(4)
    assert not feature_drift(rng.exponential(size=3_000), rng.exponential(size=3_000)).drifted


def test_small_windows_are_insufficient_not_drifted() -> None:
    result = feature_drift([1.0, 2.0, 3.0], [10.0, 11.0, 12.0])
    assert not result.sufficient and not result.drifted


def test_empty_window() -> None:
    result = feature_drift([], [1.0])
    assert not result.sufficient and not result.drifted and result.psi == 0.0


def test_constant_baseline() -> None:
    same = feature_drift(np.zeros(100), np.zeros(100))
    assert same.wasserstein == 0.0 and not same.drifted
    moved = feature_drift(np.zeros(100), np.ones(100))
    assert moved.wasserstein == math.inf and moved.drifted


def test_drift_report_over_features() -> None:
    rng = np.random.default_rng(5)
    base = {"length": rng.normal(100, 10, 500), "repetition": rng.beta(1, 20, 500)}
    cur = {"length": rng.normal(140, 10, 500), "repetition": rng.beta(1, 20, 500), "x": [1]}
    report = drift_report(base, cur, thresholds=DriftThresholds())
    assert set(report) == {"length", "repetition"}
    assert report["length"].drifted and not report["repetition"].drifted


def _naive_unbiased_mmd2(x: np.ndarray, y: np.ndarray, h: float) -> float:
    def k(a: np.ndarray, b: np.ndarray) -> float:
        return math.exp(-float(np.sum((a - b) ** 2)) / (2 * h * h))

    n, m = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(a, b) for a in x for b in y) / (n * m)
    return xx + yy - 2 * xy


def test_mmd_statistic_matches_the_definition() -> None:
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(15, 3)), rng.normal(0.5, 1, size=(12, 3))
    result = mmd_test(x, y, bandwidth=1.3, permutations=10)
    assert result.mmd2 == pytest.approx(_naive_unbiased_mmd2(x, y, 1.3))


def test_mmd_detects_embedding_shift_and_not_noise() -> None:
    rng = np.random.default_rng(7)
    base = rng.normal(size=(600, 16))
    shifted = rng.normal(size=(600, 16)) + np.r_[0.6, np.zeros(15)]
    same = rng.normal(size=(600, 16))
    drift = mmd_test(base, shifted, max_samples=300, permutations=100)
    quiet = mmd_test(base, same, max_samples=300, permutations=100)
    assert drift.drifted and drift.p_value == pytest.approx(1 / 101)
    assert not quiet.drifted and quiet.p_value > 0.05
    assert drift.n_baseline == 300  # subsampled


def test_mmd_is_reproducible_with_a_seed() -> None:
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(200, 4)), rng.normal(size=(200, 4))
    assert mmd_test(x, y, seed=1) == mmd_test(x, y, seed=1)


def test_mmd_edge_cases() -> None:
    assert mmd_test(np.zeros((1, 3)), np.ones((5, 3))).p_value == 1.0
    with pytest.raises(AnalysisError):
        mmd_test(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(AnalysisError):
        mmd_test(np.full((5, 2), np.nan), np.zeros((5, 2)))
    identical = mmd_test(np.zeros((10, 2)), np.zeros((10, 2)), permutations=20)
    assert not identical.drifted
