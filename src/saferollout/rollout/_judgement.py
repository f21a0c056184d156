"""What the controller decides from: a verdict per trigger and a summary.

The seam between the controller and the statistics: `Judge` turns per-version
aggregates into a `Judgement`; the controller only acts on it. Tests of the
state machine use a judge that returns what they need; the real one is in
`_judge.py`, built on the analysis package.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from ..store import VersionAggregate


class Status(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"
    NODATA = "NODATA"


class Decision(StrEnum):
    ROLLBACK = "rollback"
    PAUSE = "pause"
    HOLD = "hold"
    ADVANCE = "advance"


@dataclass(frozen=True)
class MetricVerdict:
    metric: str
    status: Status
    action: str = "rollback"  # what a FAIL does: rollback | pause | alert
    candidate: float | None = None
    stable: float | None = None
    interval: tuple[float, float] | None = None  # always-valid interval of candidate - stable
    p_value: float | None = None
    n_candidate: int = 0
    n_stable: int = 0
    critical: bool = False
    dry_run: bool = False
    reason: str = ""
    # Each version's own always-valid interval (alerts and the dashboard show
    # both values with intervals), and the trigger's hard limit if it has one.
    candidate_interval: tuple[float, float] | None = None
    stable_interval: tuple[float, float] | None = None
    threshold: float | None = None
    breached: bool = False  # the hard limit is shown to be exceeded

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "status": self.status.value,
            "action": self.action,
            "candidate": self.candidate,
            "stable": self.stable,
            "interval": list(self.interval) if self.interval else None,
            "p_value": self.p_value,
            "n_candidate": self.n_candidate,
            "n_stable": self.n_stable,
            "critical": self.critical,
            "dry_run": self.dry_run,
            "reason": self.reason,
            "candidate_interval": _pair(self.candidate_interval),
            "stable_interval": _pair(self.stable_interval),
            "threshold": self.threshold,
            "breached": self.breached,
        }


@dataclass(frozen=True)
class Judgement:
    decision: Decision
    verdicts: list[MetricVerdict] = field(default_factory=list)
    reason: str = ""
    srm: bool = False  # sample ratio mismatch: comparisons invalid, decisions frozen
    fail_streaks: dict[str, int] = field(default_factory=dict)
    srm_detail: dict[str, Any] | None = None  # the SRM test (observed shares, p-values)

    def failing(self) -> list[MetricVerdict]:
        return [v for v in self.verdicts if v.status is Status.FAIL and not v.dry_run]

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision.value,
            "reason": self.reason,
            "srm": self.srm,
            "srm_detail": self.srm_detail,
            "verdicts": [v.to_dict() for v in self.verdicts],
        }


def _pair(interval: tuple[float, float] | None) -> list[float] | None:
    return None if interval is None else [interval[0], interval[1]]


class Judge(Protocol):
    def __call__(
        self,
        aggregates: Mapping[str, VersionAggregate],
        *,
        stable: str,
        candidate: str,
        weights: Mapping[str, float],
        elapsed_s: float,
        fail_streaks: Mapping[str, int],
        step_aggregates: Mapping[str, VersionAggregate] | None = None,
    ) -> Judgement: ...
