"""The rollout's persisted state and its phases.

One JSON document per rollout in the store, written only through
`Controller._save` with optimistic concurrency, so a restart resumes exactly
where the last decision left it (step, weights, step start, counters).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Phase(StrEnum):
    PROGRESSING = "progressing"
    """Walking the steps; analysis may advance, hold or roll back."""
    PAUSED = "paused"
    """Frozen at the current weights until a human resumes (or rolls back)."""
    PROMOTED = "promoted"
    """The candidate is the new stable; the old one stays on standby for a while."""
    ROLLED_BACK = "rolled_back"
    """The candidate gets no traffic, decided by a trigger or a human."""
    ABORTED = "aborted"
    """A human stopped the rollout; the candidate gets no traffic."""
    COMPLETED = "completed"
    """The analysis finished without moving traffic (a shadow run that passed)."""

    @property
    def finished(self) -> bool:
        return self in (Phase.PROMOTED, Phase.ROLLED_BACK, Phase.ABORTED, Phase.COMPLETED)


class Action(StrEnum):
    """What an operator can ask for (admin API and CLI)."""

    PROMOTE = "promote"
    PAUSE = "pause"
    RESUME = "resume"
    ABORT = "abort"
    ROLLBACK = "rollback"
    SWITCH = "switch"


@dataclass
class RolloutState:
    name: str
    strategy: str
    stable: str
    candidate: str
    phase: Phase
    started_at: float
    step_index: int = 0
    step_started_at: float = 0.0
    step_start_requests: int = 0  # candidate requests served before this step began
    weights: dict[str, float] = field(default_factory=dict)  # non-stable versions, percent
    shadow_rate: float = 0.0  # share of stable's requests mirrored to the candidate
    reason: str = ""
    finished_at: float | None = None
    previous_stable: str | None = None  # kept on standby after a promotion
    standby_until: float | None = None
    hold_since: float | None = None
    fail_streaks: dict[str, int] = field(default_factory=dict)
    config_hash: str = ""
    result: dict[str, Any] | None = None  # an A/B test's report when it decided
    forced_without_preflight: bool = False

    @property
    def candidate_weight(self) -> float:
        return self.weights.get(self.candidate, 0.0)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["phase"] = self.phase.value
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RolloutState:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["phase"] = Phase(values["phase"])
        return cls(**values)
