"""What each strategy does on a tick once the common checks have passed.

The controller handles what all strategies share (judging, acting on a
failing trigger, operator actions); each function here moves one strategy
along and may return early, leaving the rest to the next tick.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..store import VersionAggregate
from ._judgement import Decision, Judgement

if TYPE_CHECKING:
    from ._controller import Controller


def progress_canary(
    ctl: Controller, now: float, candidate: VersionAggregate | None, judgement: Judgement
) -> None:
    """Advance a step when its pause is over and the analysis passed; else hold."""
    state = ctl.state
    served = 0 if candidate is None else candidate.requests - candidate.shadow
    if not ctl.pause_over(now, served):
        return
    if judgement.decision is Decision.ADVANCE:
        state.hold_since = None
        ctl.advance("controller", f"step {state.step_index + 1} complete; analysis passed")
        return
    ctl.hold(now, judgement)


def progress_shadow(
    ctl: Controller, now: float, candidate: VersionAggregate | None, judgement: Judgement
) -> None:
    """Decide once enough mirrored requests were judged: pass, or keep collecting."""
    mirrored = 0 if candidate is None else candidate.shadow
    needed = ctl.config.strategy.shadow.requests
    if mirrored < needed:
        return
    if judgement.decision is Decision.ADVANCE:
        ctl.complete(
            f"shadow passed on {mirrored} mirrored requests: the candidate may start a canary"
        )
        return
    ctl.hold(now, judgement)


def progress_blue_green(
    ctl: Controller, now: float, candidate: VersionAggregate | None, judgement: Judgement
) -> None:
    """The preview waits for an operator's `switch`; the analysis only informs it."""


PROGRESS = {
    "canary": progress_canary,
    "shadow": progress_shadow,
    "blue_green": progress_blue_green,
}
