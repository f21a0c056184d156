"""The controller: turns judgements and operator actions into routing decisions.

`tick()` is a short dispatcher in the manner of Argo Rollouts' reconcile: judge
the data, act on a failing trigger, then move the step along. Every change of
state goes through `_commit`, which applies routing in-process first (a
rollback reaches the next request within microseconds), then persists the
state with optimistic concurrency and appends the audit event.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ..config import RolloutConfig, config_hash
from ..store import StaleState, Store, VersionAggregate
from ._judgement import Decision, Judge, Judgement
from ._state import Action, Phase, RolloutState
from ._strategies import PROGRESS

log = logging.getLogger("saferollout.rollout")

ApplyRouting = Callable[[str, dict[str, float], int | None, tuple[str, float] | None], None]
"""(stable, weights of the other versions in percent, step index, (shadow version, rate))"""


class InvalidAction(ValueError):
    """An operator action that the rollout's current phase does not allow."""

    def __init__(self, action: str, message: str) -> None:
        super().__init__(message)
        self.action = action


class Controller:
    def __init__(
        self,
        config: RolloutConfig,
        store: Store,
        judge: Judge,
        *,
        apply_routing: ApplyRouting,
        clock: Callable[[], float] = time.time,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.judge = judge
        self.apply_routing = apply_routing
        self.clock = clock
        self.on_event = on_event
        self.steps = config.strategy.steps
        self.last_judgement: Judgement | None = None
        self._alerting: set[tuple[str, bool]] = set()  # (metric, judged after promotion)
        self._srm = False
        self._lock = threading.RLock()
        self.revision = 0
        # (lease name, fencing token) while this process leads (rollout._replica);
        # every state write checks it, so a deposed leader cannot write.
        self.fence: tuple[str, int] | None = None
        self.state = self._load_or_create()

    # -- start-up ------------------------------------------------------------

    def _load_or_create(self) -> RolloutState:
        loaded = self.store.load_state(self.config.name)
        digest = config_hash(self.config)
        if loaded is not None:
            revision, data = loaded
            state = RolloutState.from_dict(data)
            same_rollout = (state.stable, state.candidate) == (
                self.config.stable,
                self.config.candidate,
            )
            promoted_same = state.phase is Phase.PROMOTED and state.stable == self.config.candidate
            if same_rollout or promoted_same:
                self.revision = revision
                self._apply(state)
                log.info(
                    "resuming rollout %s: %s at step %d", state.name, state.phase, state.step_index
                )
                return state
            # The config names a new candidate: a new rollout replaces the old state.
            self.revision = revision
        now = self.clock()
        state = RolloutState(
            name=self.config.name,
            strategy=self.config.strategy.type,
            stable=self.config.stable,
            candidate=self.config.candidate,
            phase=Phase.PROGRESSING,
            started_at=now,
            config_hash=digest,
        )
        if state.strategy == "canary":
            self._enter_step(state, 0, now, candidate_requests=0)
        else:
            # Blue/green previews and shadows get no user traffic of their own.
            state.step_started_at = now
            state.weights = {state.candidate: 0.0}
            if state.strategy == "shadow":
                state.shadow_rate = self.config.strategy.shadow.sample_rate
            if state.strategy == "ab":
                state.weights = dict(self.config.strategy.ab.weights) or {state.candidate: 50.0}
        self.state = state
        self._commit("rollout_started", f"rollout of {state.candidate} started", actor="controller")
        return state

    # -- the reconcile loop ----------------------------------------------------

    def tick(self) -> Judgement | None:
        """One pass: judge, act on failures, move the step. Safe to call any time."""
        with self._lock:
            state = self.state
            now = self.clock()
            if state.phase is Phase.PROMOTED:
                return self._watch_after_promotion(now)
            if state.phase.finished:
                return None
            aggregates = self.store.aggregate_versions(since=state.started_at)
            judgement = self.judge(
                aggregates,
                stable=state.stable,
                candidate=state.candidate,
                weights=state.weights,
                elapsed_s=now - state.started_at,
                fail_streaks=state.fail_streaks,
                step_aggregates=(
                    aggregates
                    if state.step_started_at <= state.started_at
                    else self.store.aggregate_versions(since=state.step_started_at)
                ),
            )
            self.last_judgement = judgement
            state.fail_streaks = dict(judgement.fail_streaks)
            self._alert_on_failures(judgement)
            if judgement.decision is Decision.ROLLBACK:
                self._rollback(f"trigger: {judgement.reason}", "controller", judgement)
            elif judgement.decision is Decision.PAUSE and state.phase is Phase.PROGRESSING:
                self._pause(f"trigger: {judgement.reason}", "controller", judgement)
            elif state.phase is Phase.PROGRESSING:
                PROGRESS[state.strategy](self, now, aggregates.get(state.candidate), judgement)
            return judgement

    def _watch_after_promotion(self, now: float) -> Judgement | None:
        """Post-promotion vigilance while the old stable is on standby: judge the new
        stable since promotion against the old one's baseline before it; a failing
        trigger switches back at once."""
        state = self.state
        if state.previous_stable is None:
            return None
        if state.standby_until is not None and now >= state.standby_until:
            self._release_standby()
            return None
        if not self.config.strategy.post_promotion_analysis or state.finished_at is None:
            return None
        before = self.store.aggregate_versions(since=state.started_at, until=state.finished_at)
        after = self.store.aggregate_versions(since=state.finished_at)
        baseline, current = before.get(state.previous_stable), after.get(state.stable)
        if baseline is None or current is None:
            return None
        judgement = self.judge(
            {state.previous_stable: baseline, state.stable: current},
            stable=state.previous_stable,
            candidate=state.stable,
            weights={},
            elapsed_s=now - state.finished_at,
            fail_streaks=state.fail_streaks,
        )
        self.last_judgement = judgement
        state.fail_streaks = dict(judgement.fail_streaks)
        self._alert_on_failures(judgement, post_promotion=True)
        if judgement.decision is Decision.ROLLBACK:
            self._rollback(f"after promotion: {judgement.reason}", "controller", judgement)
        return judgement

    # -- hooks for the strategies ------------------------------------------------

    def hold(self, now: float, judgement: Judgement) -> None:
        """Stay on this step; pause for a human if it lasts longer than max_hold_s."""
        state = self.state
        if state.hold_since is None:
            state.hold_since = now
            self._commit("step_holding", f"step {state.step_index + 1} holds: {judgement.reason}")
        limit = self.config.strategy.max_hold_s
        if limit is not None and now - state.hold_since >= limit:
            where = f"step {state.step_index + 1}"
            self._pause(f"analysis inconclusive for {limit:g}s at {where}", "controller")

    @property
    def judge_alpha(self) -> float:
        return float(getattr(self.judge, "alpha", 0.05))

    def judge_arm(self, aggregates: dict[str, VersionAggregate], arm: str) -> Judgement:
        """Guardrail triggers for an A/B arm other than the candidate."""
        state = self.state
        return self.judge(
            aggregates,
            stable=state.stable,
            candidate=arm,
            weights=state.weights,
            elapsed_s=self.clock() - state.started_at,
            fail_streaks={},
        )

    def stop_arm(self, arm: str, reason: str) -> None:
        self.state.weights[arm] = 0.0
        self._commit("arm_stopped", f"A/B arm {arm} at 0%: {reason}")

    def promote_winner(self, reason: str) -> None:
        self._promote("controller", reason)

    def complete(self, reason: str) -> None:
        state = self.state
        state.phase = Phase.COMPLETED
        state.shadow_rate = 0.0
        state.finished_at = self.clock()
        state.reason = reason
        self._commit("completed", reason)

    def pause_over(self, now: float, served: int) -> bool:
        state = self.state
        pause = self.steps[state.step_index].pause
        if pause is None:
            return True
        if pause.requests is None and pause.seconds is None:
            return False  # `pause: {}` waits for a human to promote
        if pause.requests is not None and served - state.step_start_requests < pause.requests:
            return False
        return not (pause.seconds is not None and now - state.step_started_at < pause.seconds)

    # -- operator actions ------------------------------------------------------

    def act(
        self, action: str, *, actor: str = "operator", full: bool = False, reason: str = ""
    ) -> RolloutState:
        """Carry out an admin action, or raise InvalidAction and change nothing."""
        try:
            kind = Action(action)
        except ValueError:
            known = ", ".join(a.value for a in Action)
            raise InvalidAction(action, f"unknown action {action!r}; one of {known}") from None
        why = f" ({reason})" if reason else ""
        with self._lock:
            phase = self.state.phase
            if kind is Action.ROLLBACK:
                if phase in (Phase.ROLLED_BACK, Phase.ABORTED):
                    raise InvalidAction(action, f"nothing to roll back: the rollout is {phase}")
                if phase is Phase.PROMOTED and self.state.previous_stable is None:
                    raise InvalidAction(
                        action, "the fast-rollback window after promotion has closed"
                    )
                self._rollback(f"requested by {actor}{why}", actor)
            elif phase.finished:
                raise InvalidAction(action, f"the rollout is {phase}; {action} is not possible")
            elif kind is Action.SWITCH or (
                kind is Action.PROMOTE and self.state.strategy == "blue_green"
            ):
                self._switch(actor, why, force=full)
            elif kind is Action.PROMOTE:
                if self.state.strategy == "shadow":
                    raise InvalidAction(
                        action, "a shadow rollout does not serve users; start a canary"
                    )
                if full:
                    self._promote(actor, f"full promotion requested by {actor}{why}")
                else:
                    self.state.phase = Phase.PROGRESSING
                    self.advance(actor, f"promoted by {actor}{why}")
            elif kind is Action.PAUSE:
                if phase is Phase.PAUSED:
                    raise InvalidAction(action, "the rollout is already paused")
                self._pause(f"paused by {actor}{why}", actor)
            elif kind is Action.RESUME:
                if phase is not Phase.PAUSED:
                    raise InvalidAction(action, f"the rollout is {phase}, not paused")
                self.state.phase = Phase.PROGRESSING
                self.state.hold_since = None
                self._commit("resumed", f"resumed by {actor}{why}", actor=actor)
            elif kind is Action.ABORT:
                self._stop_candidate(Phase.ABORTED, f"aborted by {actor}{why}", actor, "aborted")
            return self.state

    def _switch(self, actor: str, why: str, *, force: bool) -> None:
        """Blue/green: all traffic to the preview at once, if its analysis passed."""
        if self.state.strategy != "blue_green":
            raise InvalidAction("switch", "switch is for blue_green rollouts; use promote")
        judgement = self.last_judgement
        if not force and (judgement is None or judgement.decision is not Decision.ADVANCE):
            status = "no analysis yet" if judgement is None else judgement.reason
            raise InvalidAction(
                "switch",
                f"the preview's pre-promotion analysis has not passed ({status}); "
                "send it test traffic, or force with --full",
            )
        self._promote(actor, f"switched by {actor}{why}")

    # -- transitions -----------------------------------------------------------

    def _enter_step(
        self, state: RolloutState, index: int, now: float, candidate_requests: int
    ) -> None:
        state.step_index = index
        state.step_started_at = now
        state.step_start_requests = candidate_requests
        state.hold_since = None
        weight = self.steps[index].weight if self.steps else None
        if weight is not None:
            state.weights = {state.candidate: float(weight)}

    def advance(self, actor: str, reason: str) -> None:
        state = self.state
        if state.step_index + 1 >= len(self.steps):
            self._promote(actor, reason + "; last step done")
            return
        served = self._candidate_requests()
        self._enter_step(state, state.step_index + 1, self.clock(), served)
        self._commit(
            "step_advanced",
            f"step {state.step_index + 1}/{len(self.steps)}: "
            f"candidate at {state.candidate_weight:g}% ({reason})",
            actor=actor,
            data=self._judgement_data(None),
        )

    def _promote(self, actor: str, reason: str) -> None:
        state = self.state
        now = self.clock()
        state.previous_stable = state.stable
        state.stable = state.candidate
        state.weights = {}
        state.fail_streaks = {}
        state.phase = Phase.PROMOTED
        state.finished_at = now
        state.standby_until = now + self.config.strategy.fast_rollback_window_s
        state.reason = reason
        self._commit(
            "promoted",
            f"{state.candidate} promoted to stable ({reason})",
            actor=actor,
            data=self._judgement_data(None),
        )

    def _pause(self, reason: str, actor: str, judgement: Judgement | None = None) -> None:
        self.state.phase = Phase.PAUSED
        self.state.reason = reason
        self._commit("paused", reason, actor=actor, data=self._judgement_data(judgement))

    def _rollback(self, reason: str, actor: str, judgement: Judgement | None = None) -> None:
        state = self.state
        after_promotion = state.phase is Phase.PROMOTED
        if after_promotion and state.previous_stable is not None:
            # Fast rollback: the old stable is still on standby; switch back at once.
            state.candidate, state.stable = state.stable, state.previous_stable
            state.previous_stable = None
        self._stop_candidate(
            Phase.ROLLED_BACK, reason, actor, "rolled_back", judgement, after_promotion
        )

    def _stop_candidate(
        self,
        phase: Phase,
        reason: str,
        actor: str,
        kind: str,
        judgement: Judgement | None = None,
        after_promotion: bool = False,
    ) -> None:
        state = self.state
        state.weights = {state.candidate: 0.0}
        state.shadow_rate = 0.0
        state.phase = phase
        state.reason = reason
        state.finished_at = self.clock()
        data = self._judgement_data(judgement)
        if after_promotion:
            data = {**(data or {}), "post_promotion": True}
        self._commit(kind, f"{state.candidate} at 0%: {reason}", actor=actor, data=data)

    def _release_standby(self) -> None:
        state = self.state
        old, state.previous_stable = state.previous_stable, None
        self._commit("standby_released", f"{old} released from standby; fast rollback closed")

    def _alert_on_failures(self, judgement: Judgement, *, post_promotion: bool = False) -> None:
        """Events for what alerts but does not act: alert-only triggers and a sample
        ratio mismatch, each once when it starts failing and once when it clears.
        The data carries the verdict (both versions' values and intervals) under
        `verdict`: its `candidate`/`stable` values must not replace the payload's
        version names."""
        verdicts = {v.metric: v for v in judgement.verdicts}
        extra = {"post_promotion": True} if post_promotion else {}
        failing = {(v.metric, post_promotion) for v in judgement.failing() if v.action == "alert"}
        for metric, _ in sorted(failing - self._alerting):
            verdict = verdicts[metric]
            self._event(
                "trigger_alert",
                f"{metric} fails: {verdict.reason}",
                data={"metric": metric, "verdict": verdict.to_dict(), **extra},
            )
        # What failed before a promotion resolves on the first tick after it (that
        # comparison is over), under its own key.
        for metric, post in sorted(self._alerting - failing):
            same = metric in verdicts and post == post_promotion
            data = {"metric": metric, "verdict": verdicts[metric].to_dict() if same else None}
            if post:
                data["post_promotion"] = True
            self._event("trigger_resolved", f"{metric} no longer fails", data=data)
        self._alerting = failing
        if judgement.srm != self._srm:
            self._srm = judgement.srm
            self._event(
                "srm_detected" if judgement.srm else "srm_resolved",
                "sample ratio mismatch: traffic split differs from the weights; decisions frozen"
                if judgement.srm
                else "sample ratio mismatch cleared",
                data={"srm": judgement.srm_detail, **extra},
            )

    def _judgement_data(self, judgement: Judgement | None) -> dict[str, Any] | None:
        """The judgement a transition was made on (else the latest one): alerts carry
        its metrics with both versions' values and intervals."""
        judgement = judgement or self.last_judgement
        return None if judgement is None else {"judgement": judgement.to_dict()}

    # -- persistence -------------------------------------------------------------

    def _candidate_requests(self) -> int:
        agg = self.store.aggregate_versions(since=self.state.started_at).get(self.state.candidate)
        return 0 if agg is None else agg.requests - agg.shadow

    def _apply(self, state: RolloutState) -> None:
        step = None if state.phase.finished else state.step_index
        shadow = (state.candidate, state.shadow_rate) if state.shadow_rate > 0 else None
        self.apply_routing(state.stable, dict(state.weights), step, shadow)

    def _commit(
        self,
        kind: str,
        message: str,
        *,
        actor: str = "controller",
        data: dict[str, Any] | None = None,
    ) -> None:
        """Route first, then persist, then audit: traffic never waits on the database."""
        state = self.state
        self._apply(state)
        try:
            self.revision = self.store.save_state(
                state.name, state.to_dict(), expected_revision=self.revision, fence=self.fence
            )
        except StaleState:
            # Another writer (a previous leader) got there first: take its state.
            loaded = self.store.load_state(state.name)
            if loaded is not None:
                self.revision, fresh = loaded
                self.state = RolloutState.from_dict(fresh)
                self._apply(self.state)
            log.warning("rollout state changed underneath; reloaded revision %d", self.revision)
            if actor != "controller":
                # An operator must learn that the action did not happen.
                raise InvalidAction(
                    kind, "the rollout changed while acting (another controller leads); retry"
                ) from None
            return
        self._event(kind, message, actor=actor, data=data)

    def _event(
        self,
        kind: str,
        message: str,
        *,
        actor: str = "controller",
        data: dict[str, Any] | None = None,
    ) -> None:
        payload = {
            "phase": self.state.phase.value,
            "step": self.state.step_index,
            "weights": self.state.weights,
            "stable": self.state.stable,
            "candidate": self.state.candidate,
            "fence": None if self.fence is None else self.fence[1],
        }
        if data:
            payload.update(data)
        event_id = self.store.append_event(
            self.state.name, kind, message, actor=actor, data=payload
        )
        log.info("%s: %s", kind, message)
        if self.on_event is not None:
            self.on_event(
                {"id": event_id, "kind": kind, "message": message, "actor": actor, "data": payload}
            )

    def sync(self, *, force: bool = False) -> bool:
        """Follow the persisted state (another replica leads): reload it when its
        revision moved and apply its routing. True if anything changed."""
        loaded = self.store.load_state(self.config.name)
        if loaded is None:
            return False
        revision, data = loaded
        with self._lock:
            if revision == self.revision and not force:
                return False
            self.revision = revision
            self.state = RolloutState.from_dict(data)
            self._apply(self.state)
        return True

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            state = self.state
            weights = {
                state.stable: 100.0 - sum(w for v, w in state.weights.items() if v != state.stable)
            }
            weights.update({v: w for v, w in state.weights.items() if v != state.stable})
            return {
                "rollout": state.to_dict(),
                "weights": weights,
                "steps": [s.model_dump() for s in self.steps],
                "judgement": None if self.last_judgement is None else self.last_judgement.to_dict(),
            }
