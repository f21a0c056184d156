"""The rollout controller: strategies as state machines, triggers, decisions, audit."""

from __future__ import annotations

from ._controller import ApplyRouting, Controller, InvalidAction
from ._judge import TriggerJudge
from ._judgement import Decision, Judge, Judgement, MetricVerdict, Status
from ._replica import ForwardTimeout, Replica, replica_id
from ._state import Action, Phase, RolloutState

__all__ = [
    "Action",
    "ApplyRouting",
    "Controller",
    "Decision",
    "ForwardTimeout",
    "InvalidAction",
    "Judge",
    "Judgement",
    "MetricVerdict",
    "Phase",
    "Replica",
    "RolloutState",
    "Status",
    "TriggerJudge",
    "replica_id",
]
