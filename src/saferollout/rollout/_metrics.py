"""From per-version aggregates to the numbers each trigger judges.

Rate metrics are (events, trials): safety flags count among *scored*
records (a record not yet scored is not evidence either way), errors among
all requests. Latency is judged on its histogram.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..store import VersionAggregate

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
    if metric == "error_rate":  # mirrored calls count too: a shadow is judged on its own
        return RateCounts(agg.errors, agg.requests)
    flag = FLAG_OF[metric]
    return RateCounts(agg.flags.get(flag, 0), agg.scored)


def is_rate(metric: str) -> bool:
    return metric == "error_rate" or metric in FLAG_OF
