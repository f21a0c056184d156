"""Seeded small versions of bench/detection.py: the error rate stays under alpha
with a margin, and a doubling is caught about as fast as the benchmark says."""

from __future__ import annotations

import math

import numpy as np

from saferollout.analysis import (
    MetricData,
    MetricSpec,
    Proportion,
    StepDecision,
    evaluate_step,
    rate_ratio_log_e,
)

LOOK = 100
THRESHOLD = math.log(20)  # alpha = 0.05


def _simulate(seed: int, runs: int, looks: int, share: float, rate_c: float) -> tuple:
    rng = np.random.default_rng(seed)
    inc = rng.binomial(LOOK, share, size=(runs, looks))
    xc = rng.binomial(inc, rate_c).cumsum(axis=1)
    xs = rng.binomial(LOOK - inc, 0.01).cumsum(axis=1)
    nc = inc.cumsum(axis=1)
    ns = LOOK * np.arange(1, looks + 1) - nc
    return nc, xc, ns, xs


def test_aa_false_rollback_rate_stays_under_alpha() -> None:
    nc, xc, ns, xs = _simulate(seed=1, runs=600, looks=300, share=0.1, rate_c=0.01)
    rolled_back = (rate_ratio_log_e(nc, xc, ns, xs) >= THRESHOLD).any(axis=1)
    assert rolled_back.mean() <= 0.04  # alpha = 0.05 with a margin

    # The naive z-test on the same data, re-checked at every look, does not.
    pooled = (xc + xs) / (nc + ns)
    var = pooled * (1 - pooled) * (1 / nc + 1 / ns)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(var > 0, (xc / nc - xs / ns) / np.sqrt(var), 0.0)
    assert (z >= 1.645).any(axis=1).mean() > 0.2


def test_doubling_is_caught_within_the_targets() -> None:
    nc, xc, ns, xs = _simulate(seed=2, runs=300, looks=600, share=0.1, rate_c=0.02)
    hit = rate_ratio_log_e(nc, xc, ns, xs) >= THRESHOLD
    assert hit.any(axis=1).all()
    canary = nc[np.arange(len(nc)), hit.argmax(axis=1)]
    assert np.median(canary) <= 1_600
    assert np.percentile(canary, 95) <= 3_500


def test_end_to_end_through_evaluate_step() -> None:
    """A few runs through the controller's entry point: a doubling rolls back, an
    identical candidate advances once non-inferiority and the hard limit are shown."""
    spec = [MetricSpec("violation", hard_limit=0.03, noninferiority_margin=1.0)]
    for seed in range(3):
        nc, xc, ns, xs = _simulate(seed=10 + seed, runs=1, looks=1_000, share=0.1, rate_c=0.02)
        decisions = []
        for j in range(4, 1_000, 5):  # a look every 500 requests
            data = {
                "violation": MetricData(
                    Proportion(int(nc[0, j]), int(xc[0, j])),
                    Proportion(int(ns[0, j]), int(xs[0, j])),
                )
            }
            decision = evaluate_step(spec, data, elapsed=3_600.0).decision
            decisions.append(decision)
            if decision is not StepDecision.HOLD:
                break
        assert decisions[-1] is StepDecision.ROLLBACK

    nc, xc, ns, xs = _simulate(seed=20, runs=1, looks=1_000, share=0.5, rate_c=0.01)
    final = evaluate_step(
        spec,
        {
            "violation": MetricData(
                Proportion(int(nc[0, -1]), int(xc[0, -1])),
                Proportion(int(ns[0, -1]), int(xs[0, -1])),
            )
        },
        elapsed=3_600.0,
    )
    assert final.decision is StepDecision.ADVANCE
