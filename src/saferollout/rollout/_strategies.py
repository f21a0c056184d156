"""What each strategy does on a tick once the common checks have passed.

The controller handles what all strategies share (judging, acting on a
failing trigger, operator actions); each function here moves one strategy
along and may return early, leaving the rest to the next tick.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..analysis import ab_report, to_jsonable
from ..store import VersionAggregate
from ._judgement import Decision, Judgement
from ._metrics import metric_data

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


def progress_ab(
    ctl: Controller, now: float, candidate: VersionAggregate | None, judgement: Judgement
) -> None:
    """Stop an arm that breaks a guardrail; decide once every arm is decided on the
    primary metric (always-valid, so looking every tick is fine) or time is up."""
    state = ctl.state
    ab = ctl.config.strategy.ab
    if judgement.srm:
        return  # the split is off: no comparison can be trusted
    aggregates = ctl.store.aggregate_versions(since=state.started_at)
    for arm in [a for a, w in state.weights.items() if w > 0 and a != state.candidate]:
        verdict = ctl.judge_arm(aggregates, arm)
        if verdict.decision is Decision.ROLLBACK:
            ctl.stop_arm(arm, verdict.reason)
    report = ab_analysis(ctl, aggregates)
    active = {a for a, w in state.weights.items() if w > 0}
    # Every active arm needs a report row: no data is never a decision.
    decided = active <= set(report) and all(
        row["decision"] in ("candidate_better", "candidate_worse")
        and min(row["candidate"]["n"], row["stable"]["n"]) >= ab.min_samples
        for row in report.values()
    )
    if not (decided or now - state.started_at >= ab.max_duration_s):
        return
    better = [arm for arm, row in report.items() if row["decision"] == "candidate_better"]
    winner = (
        min(better, key=lambda a: report[a]["candidate"]["estimate"]) if better else state.stable
    )
    why = "decided" if decided else f"stopped after {ab.max_duration_s:g}s"
    summary = f"A/B {why} on {ab.primary_metric}: " + (
        f"{winner} is better than {state.stable}" if better else f"no arm beats {state.stable}"
    )
    state.result = {"primary_metric": ab.primary_metric, "winner": winner, "arms": report}
    if better and ab.auto_promote:
        state.candidate = winner
        ctl.promote_winner(summary)
    else:
        ctl.complete(summary)


def ab_analysis(
    ctl: Controller, aggregates: dict[str, VersionAggregate]
) -> dict[str, dict[str, Any]]:
    """Per arm: the A/B report row of its primary metric against stable."""
    state = ctl.state
    metric = ctl.config.strategy.ab.primary_metric
    out: dict[str, dict[str, Any]] = {}
    for arm in [a for a, w in state.weights.items() if w > 0]:
        data = metric_data(metric, aggregates.get(arm), aggregates.get(state.stable))
        if data is None:
            continue
        row = ab_report({metric: data}, alpha=ctl.judge_alpha).rows[0]
        out[arm] = to_jsonable(row)
    return out


PROGRESS = {
    "canary": progress_canary,
    "shadow": progress_shadow,
    "blue_green": progress_blue_green,
    "ab": progress_ab,
}
