"""A/B report data: everything the report and the dashboard print per metric.

For each metric and arm: the estimate with a fixed-horizon and an always-valid
interval; for the comparison: difference, lift (candidate / stable - 1), both kinds
of interval, both kinds of two-sided p-value, and a per-metric decision taken on the
always-valid numbers only (the fixed ones are there because readers know them, and
are labelled as valid at one pre-planned look). SRM invalidates every decision.

Rates: the always-valid two-sided p-value and lift interval come from the exact
event-split test of :mod:`._rate_ratio` (they agree: the lift interval excludes 0
exactly when the p-value is at most alpha); the fixed lift interval is Katz's log
interval for a risk ratio (Katz et al. 1978) with a 0.5 correction for zero counts.
Means: the normal mixture; lift intervals by Fieller's theorem.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from scipy import stats as sps

from ._beta_binomial import proportion_confidence_sequence
from ._compare import (
    MeanTest,
    RateTest,
    compare_means,
    compare_rates,
    effective_sample_size,
)
from ._errors import AnalysisError
from ._fixed import (
    fieller_interval,
    two_proportion_z_test,
    wald_difference_interval,
    welch_interval,
    welch_test,
    wilson_interval,
)
from ._normal_mixture import (
    log_e_to_p_value,
    mean_confidence_sequence,
    normal_mixture_log_e,
)
from ._rate_ratio import rate_ratio_log_e
from ._serialize import to_jsonable
from ._srm import SRMResult
from ._stats import Interval, MeanStats, Proportion
from ._types import Alternative
from ._verdicts import MetricData

__all__ = ["ABDecision", "ABMetricRow", "ABReport", "ArmSummary", "ab_report"]


class ABDecision(StrEnum):
    """What the data say about one metric (or the whole test)."""

    CANDIDATE_BETTER = "candidate_better"
    CANDIDATE_WORSE = "candidate_worse"
    INCONCLUSIVE = "inconclusive"
    """No difference shown yet (not: shown to be equal)."""
    NODATA = "nodata"
    INVALID = "invalid"
    """Sample ratio mismatch: the comparison cannot be trusted."""


@dataclass(frozen=True, slots=True)
class ArmSummary:
    n: int
    estimate: float
    fixed_interval: Interval
    always_valid_interval: Interval


@dataclass(frozen=True, slots=True)
class ABMetricRow:
    metric: str
    kind: str
    """"rate" or "mean"."""
    higher_is_worse: bool
    candidate: ArmSummary
    stable: ArmSummary
    difference: float
    difference_fixed_interval: Interval
    difference_always_valid_interval: Interval
    lift: float
    """``candidate / stable - 1``; nan when undefined."""
    lift_fixed_interval: Interval
    lift_always_valid_interval: Interval
    p_value: float
    """Two-sided, fixed horizon (z or Welch test)."""
    always_valid_p_value: float
    """Two-sided, valid at every look."""
    decision: ABDecision


@dataclass(frozen=True, slots=True)
class ABReport:
    rows: tuple[ABMetricRow, ...]
    srm: SRMResult | None
    decision: ABDecision
    alpha: float

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = to_jsonable(self)
        return out


def _z(alpha: float) -> float:
    return float(sps.norm.ppf(1.0 - alpha / 2.0))


def _katz(candidate: Proportion, stable: Proportion, alpha: float) -> Interval:
    if candidate.empty or stable.empty:
        return Interval(-1.0, math.inf)
    xc, xs = float(candidate.events), float(stable.events)
    nc, ns = float(candidate.n), float(stable.n)
    if xc == 0 or xs == 0:  # Haldane-Anscombe correction
        xc, xs, nc, ns = xc + 0.5, xs + 0.5, nc + 0.5, ns + 0.5
    log_ratio = math.log((xc / nc) / (xs / ns))
    se = math.sqrt(max(1 / xc - 1 / nc + 1 / xs - 1 / ns, 0.0))
    half = _z(alpha) * se
    return Interval(math.exp(log_ratio - half) - 1.0, math.exp(log_ratio + half) - 1.0)


def _decide(interval: Interval, null: float, higher_is_worse: bool) -> ABDecision:
    if interval.above(null):
        return ABDecision.CANDIDATE_WORSE if higher_is_worse else ABDecision.CANDIDATE_BETTER
    if interval.below(null):
        return ABDecision.CANDIDATE_BETTER if higher_is_worse else ABDecision.CANDIDATE_WORSE
    return ABDecision.INCONCLUSIVE


def _shift(interval: Interval, by: float) -> Interval:
    return Interval(interval.lower + by, interval.upper + by)


def _rate_row(name: str, c: Proportion, s: Proportion, alpha: float) -> ABMetricRow:
    comp = compare_rates(c, s, RateTest(alpha=alpha))
    two_sided = rate_ratio_log_e(
        c.n, c.events, s.n, s.events, 1.0, alternative=Alternative.TWO_SIDED
    )
    lift_av = _shift(comp.ratio_interval, -1.0)
    nodata = c.empty or s.empty
    return ABMetricRow(
        metric=name,
        kind="rate",
        higher_is_worse=True,
        candidate=ArmSummary(
            c.n, c.rate, wilson_interval(c, alpha), proportion_confidence_sequence(c, alpha)
        ),
        stable=ArmSummary(
            s.n, s.rate, wilson_interval(s, alpha), proportion_confidence_sequence(s, alpha)
        ),
        difference=comp.difference,
        difference_fixed_interval=wald_difference_interval(c, s, alpha),
        difference_always_valid_interval=comp.difference_interval,
        lift=comp.ratio - 1.0,
        lift_fixed_interval=_katz(c, s, alpha),
        lift_always_valid_interval=lift_av,
        p_value=two_proportion_z_test(c, s)[1],
        always_valid_p_value=float(log_e_to_p_value(two_sided)),
        decision=ABDecision.NODATA if nodata else _decide(lift_av, 0.0, True),
    )


def _mean_row(
    name: str, c: MeanStats, s: MeanStats, alpha: float, higher_is_worse: bool
) -> ABMetricRow:
    test = MeanTest(alpha=alpha, higher_is_worse=higher_is_worse)
    comp = compare_means(c, s, test)
    if c.n >= 2 and s.n >= 2:
        se = math.sqrt(c.variance / c.n + s.variance / s.n)
        z = comp.difference / se if se > 0 else 0.0
        log_e = normal_mixture_log_e(z, effective_sample_size(c.n, s.n), test.rho)
        lift_fixed = fieller_interval(c.mean, c.variance / c.n, s.mean, s.variance / s.n, _z(alpha))
    else:
        log_e = 0.0
        lift_fixed = Interval(-math.inf, math.inf)
    nodata = c.n < 2 or s.n < 2
    return ABMetricRow(
        metric=name,
        kind="mean",
        higher_is_worse=higher_is_worse,
        candidate=ArmSummary(
            c.n, c.mean, _one_mean_interval(c, alpha), mean_confidence_sequence(c, alpha)
        ),
        stable=ArmSummary(
            s.n, s.mean, _one_mean_interval(s, alpha), mean_confidence_sequence(s, alpha)
        ),
        difference=comp.difference,
        difference_fixed_interval=welch_interval(c, s, alpha),
        difference_always_valid_interval=comp.difference_interval,
        lift=comp.ratio - 1.0,
        lift_fixed_interval=_shift(lift_fixed, -1.0),
        lift_always_valid_interval=_shift(comp.ratio_interval, -1.0),
        p_value=welch_test(c, s)[1],
        always_valid_p_value=float(log_e_to_p_value(log_e)),
        decision=(
            ABDecision.NODATA if nodata else _decide(comp.difference_interval, 0.0, higher_is_worse)
        ),
    )


def _one_mean_interval(stats: MeanStats, alpha: float) -> Interval:
    if stats.n < 2:
        return Interval(-math.inf, math.inf)
    half = float(sps.t.ppf(1.0 - alpha / 2.0, stats.n - 1)) * stats.std / math.sqrt(stats.n)
    return Interval(stats.mean - half, stats.mean + half)


def ab_report(
    metrics: Mapping[str, MetricData],
    *,
    srm: SRMResult | None = None,
    alpha: float = 0.05,
    lower_is_worse: frozenset[str] = frozenset(),
) -> ABReport:
    """Report rows for every metric (both arms needed); ``lower_is_worse`` names the
    continuous metrics where a drop is bad (ratings)."""
    if not 0.0 < alpha < 1.0:
        raise AnalysisError(f"alpha must be in (0, 1), got {alpha}")
    rows = []
    for name, data in metrics.items():
        if data.stable is None:
            raise AnalysisError(f"{name}: an A/B report needs both arms")
        if isinstance(data.candidate, Proportion):
            assert isinstance(data.stable, Proportion)
            if name in lower_is_worse:
                raise AnalysisError(f"{name}: rates count the bad outcome")
            rows.append(_rate_row(name, data.candidate, data.stable, alpha))
        else:
            assert isinstance(data.stable, MeanStats)
            rows.append(
                _mean_row(name, data.candidate, data.stable, alpha, name not in lower_is_worse)
            )
    decisions = {r.decision for r in rows}
    if srm is not None and srm.mismatch:
        overall = ABDecision.INVALID
    elif ABDecision.CANDIDATE_WORSE in decisions:
        overall = ABDecision.CANDIDATE_WORSE
    elif not rows or decisions == {ABDecision.NODATA}:
        overall = ABDecision.NODATA
    elif ABDecision.CANDIDATE_BETTER in decisions:
        overall = ABDecision.CANDIDATE_BETTER
    else:
        overall = ABDecision.INCONCLUSIVE
    if overall is ABDecision.INVALID:
        rows = [_invalidate(r) for r in rows]
    return ABReport(rows=tuple(rows), srm=srm, decision=overall, alpha=alpha)


def _invalidate(row: ABMetricRow) -> ABMetricRow:
    return replace(row, decision=ABDecision.INVALID)
