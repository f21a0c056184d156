"""The real judge: rollout.yaml triggers evaluated with the analysis package.

Rates are (events, trials) from the aggregates; latency is a mean with its
sum of squares. The analysis decides PASS / FAIL / INCONCLUSIVE / NODATA per
metric with always-valid tests and Holm across the guardrail family; this
module adds what only the controller knows: each trigger's action (an
`alert` trigger is judged but never blocks or rolls back) and the SRM check
on the current step, whose weights are the ones traffic was split by.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..analysis import (
    LimitStatus,
    MeanStats,
    MetricSpec,
    Proportion,
    StepAnalysis,
    StepDecision,
    Verdict,
    evaluate_step,
    mean_confidence_sequence,
    proportion_confidence_sequence,
    sample_ratio_mismatch,
    to_jsonable,
)
from ..config import TriggerConfig
from ..store import VersionAggregate
from ._judgement import Decision, Judgement, MetricVerdict, Status
from ._metrics import is_rate, metric_data

_STATUS = {
    Verdict.PASS: Status.PASS,
    Verdict.FAIL: Status.FAIL,
    Verdict.INCONCLUSIVE: Status.INCONCLUSIVE,
    Verdict.NODATA: Status.NODATA,
}
# SRM needs enough traffic in the step for a mismatch to mean anything.
SRM_MIN_REQUESTS = 200


class TriggerJudge:
    def __init__(self, triggers: Sequence[TriggerConfig], *, alpha: float = 0.05) -> None:
        self.triggers = {t.metric: t for t in triggers}
        self.alpha = alpha
        self.specs = [self._spec(t) for t in triggers]

    @staticmethod
    def _spec(t: TriggerConfig) -> MetricSpec:
        return MetricSpec(
            name=t.metric,
            tolerance=t.tolerance,
            absolute_tolerance=t.absolute_tolerance,
            noninferiority_margin=t.noninferiority_margin,
            hard_limit=t.threshold,
            compare=t.compare == "relative",
            critical=t.critical,
            # An alert-only trigger is judged and reported, never acted on here.
            dry_run=t.dry_run or t.action == "alert",
            min_samples=t.min_samples,
            min_duration=t.min_duration_s,
            failure_limit=t.failure_limit,
        )

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
    ) -> Judgement:
        cand, base = aggregates.get(candidate), aggregates.get(stable)
        data = {spec.name: metric_data(spec.name, cand, base) for spec in self.specs}
        srm = self._srm(step_aggregates or {}, stable, candidate, weights)
        analysis = evaluate_step(
            self.specs,
            {k: v for k, v in data.items() if v is not None},
            elapsed=elapsed_s,
            failure_counts=fail_streaks,
            srm=srm,
            alpha=self.alpha,
        )
        return self._judgement(analysis)

    def _srm(
        self,
        step: Mapping[str, VersionAggregate],
        stable: str,
        candidate: str,
        weights: Mapping[str, float],
    ):  # type: ignore[no-untyped-def]
        share = weights.get(candidate, 0.0)
        counts = {
            v: (step[v].requests - step[v].shadow) if v in step else 0 for v in (stable, candidate)
        }
        if not 0 < share < 100 or sum(counts.values()) < SRM_MIN_REQUESTS:
            return None
        return sample_ratio_mismatch(counts, {stable: 100.0 - share, candidate: share})

    def _judgement(self, analysis: StepAnalysis) -> Judgement:
        verdicts = [self._verdict(v) for v in analysis.verdicts]
        decision = {
            StepDecision.ROLLBACK: Decision.ROLLBACK,
            StepDecision.HOLD: Decision.HOLD,
            StepDecision.ADVANCE: Decision.ADVANCE,
        }[analysis.decision]
        reason = analysis.reason
        if decision is Decision.ROLLBACK:
            failing = [v for v in verdicts if v.status is Status.FAIL and not v.dry_run]
            if all(v.action == "pause" for v in failing):
                decision = Decision.PAUSE
            reason = "; ".join(f"{v.metric}: {v.reason}" for v in failing)
        return Judgement(
            decision,
            verdicts,
            reason=reason,
            srm=analysis.frozen,
            fail_streaks=dict(analysis.failure_counts),
            srm_detail=None if analysis.srm is None else to_jsonable(analysis.srm),
        )

    def _verdict(self, v) -> MetricVerdict:  # type: ignore[no-untyped-def]
        trigger = self.triggers[v.name]
        comp = v.comparison
        candidate = stable = None
        interval = None
        p_value = v.harm_p_value_adjusted
        n_c = n_s = 0
        c_iv = s_iv = None
        if comp is not None:
            candidate, stable = _value(comp.candidate), _value(comp.stable)
            n_c, n_s = comp.candidate.n, comp.stable.n
            iv = getattr(comp, "difference_interval", None)
            if iv is not None:
                interval = (float(iv.lower), float(iv.upper))
            c_iv = _own_interval(comp.candidate, self.alpha)
            s_iv = _own_interval(comp.stable, self.alpha)
        elif v.hard_limit is not None:
            candidate = getattr(v.hard_limit, "estimate", None)
            bounds = v.hard_limit.bounds
            c_iv = (float(bounds.lower), float(bounds.upper))
        detail = v.reason
        if comp is not None and candidate is not None and stable is not None:
            scale, unit = (100, "%") if is_rate(v.name) else (1, " ms")
            c_text, s_text = f"{candidate * scale:.3g}{unit}", f"{stable * scale:.3g}{unit}"
            detail += f" (candidate {c_text} vs stable {s_text}, n={n_c}/{n_s})"
        return MetricVerdict(
            metric=v.name,
            status=_STATUS[v.verdict],
            action=trigger.action,
            candidate=candidate,
            stable=stable,
            interval=interval,
            p_value=p_value,
            n_candidate=n_c,
            n_stable=n_s,
            critical=v.critical,
            dry_run=trigger.dry_run,
            reason=detail,
            candidate_interval=c_iv,
            stable_interval=s_iv,
            threshold=trigger.threshold,
            breached=v.hard_limit is not None and v.hard_limit.status is LimitStatus.BREACHED,
        )


def _value(stat: Proportion | MeanStats) -> float | None:
    if stat.n == 0:
        return None
    return stat.rate if isinstance(stat, Proportion) else stat.mean


def _own_interval(stat: Proportion | MeanStats, alpha: float) -> tuple[float, float] | None:
    """One version's always-valid interval: its value as the alerts and dashboard show it."""
    if stat.n == 0 or (isinstance(stat, MeanStats) and stat.n < 2):
        return None
    if isinstance(stat, Proportion):
        iv = proportion_confidence_sequence(stat, alpha)
    else:
        iv = mean_confidence_sequence(stat, alpha)
    return (float(iv.lower), float(iv.upper))
