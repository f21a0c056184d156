"""From per-version aggregates to the numbers each trigger judges.

Rate metrics are (events, trials): safety flags count among *scored*
records (a record not yet scored is not evidence either way), errors among
all requests, negative feedback among the feedback given (explicit and
implicit, by the time it was given). Latency is judged on its histogram.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..analysis import MeanStats, MetricData, Proportion
from ..store import VersionAggregate

FEEDBACK_METRIC = "negative_feedback_rate"

# metric -> flag column counted among scored records
FLAG_OF = {
    "safety_violation_rate": "safety_violation",
    "harmful_compliance_rate": "harmful_compliance",
    "pii_leak_rate": "pii_leak",
    "over_refusal_rate": "over_refusal",
    "refusal_rate": "refusal",
    "guardrail_trigger_rate": "guardrail_triggered",
    "anomaly_rate": "anomaly",
}


@dataclass(frozen=True)
class RateCounts:
    events: int
    trials: int

    @property
    def rate(self) -> float | None:
        return self.events / self.trials if self.trials else None


def rate_counts(metric: str, agg: VersionAggregate | None) -> RateCounts:
    if agg is None:
        return RateCounts(0, 0)
    if metric == FEEDBACK_METRIC:
        return RateCounts(agg.negative_feedback, agg.feedback)
    if metric == "error_rate":  # mirrored calls count too: a shadow is judged on its own
        return RateCounts(agg.errors, agg.requests)
    flag = FLAG_OF[metric]
    return RateCounts(agg.flags.get(flag, 0), agg.scored)


def is_rate(metric: str) -> bool:
    return metric in ("error_rate", FEEDBACK_METRIC) or metric in FLAG_OF


def metric_data(
    metric: str, cand: VersionAggregate | None, base: VersionAggregate | None
) -> MetricData | None:
    """The analysis input for one metric: None when the candidate has no data for it."""
    if cand is None:
        return None
    if is_rate(metric):
        c = rate_counts(metric, cand)
        if c.trials == 0:
            return None
        s = rate_counts(metric, base)
        return MetricData(Proportion(c.trials, c.events), Proportion(s.trials, s.events))
    if cand.latency_n == 0:
        return None
    return MetricData(_latency(cand), _latency(base))


def _latency(a: VersionAggregate | None) -> MeanStats:
    if a is None:
        return MeanStats(0, 0.0, 0.0)
    return MeanStats(a.latency_n, a.latency_sum, a.latency_sumsq)
