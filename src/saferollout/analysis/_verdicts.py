"""Per-metric verdicts and the step decision.

The controller calls :func:`evaluate_step` every tick with running counts and sums
per metric and version, the time since the step began, the failure counters it got
back from the previous tick, and the SRM result. Everything here is a pure function
of those numbers.

Per metric (:func:`assess_metric`, one rule per line):

1. No candidate data, or a comparison without stable data: NODATA (never a pass).
2. Failing means a breached hard limit, or the harm test rejecting (Holm-adjusted
   across guardrail metrics). A critical metric that is failing: FAIL at once.
3. Before ``min_samples`` (per arm) and ``min_duration``: INCONCLUSIVE.
4. Failing: count one more consecutive failure; FAIL once the count reaches
   ``failure_limit`` (flapping guard), INCONCLUSIVE before. Not failing resets it.
5. SRM: comparisons are invalid, so a comparative metric cannot pass (hard limits
   judge the candidate alone and still fail).
6. PASS when every configured requirement is met: the hard limit shown compliant
   (upper bound at or below it) and non-inferiority shown when a margin is set.
   Otherwise INCONCLUSIVE.

Step (:func:`decide_step`): dry-run metrics are recorded but ignored; any FAIL rolls
back, else anything short of PASS (or an SRM, or no metrics at all) holds, else
advance. Non-inferiority p-values need no multiplicity correction: promotion requires
every metric to pass, an intersection-union test (Berger 1982) whose level is the
level of each part.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ._beta_binomial import DEFAULT_LOG_ODDS_SCALE
from ._compare import (
    DEFAULT_RATE_RHO,
    MeanComparison,
    MeanTest,
    RateComparison,
    RateTest,
    compare_means,
    compare_rates,
)
from ._errors import AnalysisError
from ._limits import HardLimitResult, LimitStatus, check_hard_limit
from ._multiple import holm_adjust
from ._normal_mixture import DEFAULT_MEAN_RHO
from ._serialize import to_jsonable
from ._srm import SRMResult
from ._stats import MeanStats, Proportion

__all__ = [
    "Evidence",
    "MetricData",
    "MetricSpec",
    "MetricVerdict",
    "StepAnalysis",
    "StepDecision",
    "Verdict",
    "assess_metric",
    "decide_step",
    "evaluate_step",
]


class Verdict(StrEnum):
    """Outcome for one metric at one tick."""

    PASS = "pass"
    """Every requirement is shown to hold; the metric does not block advancing."""
    FAIL = "fail"
    """Harm or a hard-limit breach, past the flapping guard: roll back."""
    INCONCLUSIVE = "inconclusive"
    """Not enough evidence either way yet: hold."""
    NODATA = "nodata"
    """Nothing to judge: hold. Never a pass."""

    @property
    def blocks_advance(self) -> bool:
        return self is not Verdict.PASS

    @property
    def triggers_rollback(self) -> bool:
        return self is Verdict.FAIL


class StepDecision(StrEnum):
    """What the controller should do with the current step."""

    ROLLBACK = "rollback"
    """A metric failed: send all traffic back to stable."""
    HOLD = "hold"
    """Stay on this step and look again at the next tick."""
    ADVANCE = "advance"
    """Every metric passed: go to the next step (or promote after the last)."""


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """How one metric is judged. Rates and means are told apart by the data given."""

    name: str
    higher_is_worse: bool = True
    """Rates must keep True (events are the bad outcome); False for ratings."""
    tolerance: float = 0.0
    """Relative worsening that is not harm (Kayenta-style practical significance)."""
    absolute_tolerance: float = 0.0
    """Means only: absolute worsening that is not harm (e.g. 0.02 s)."""
    noninferiority_margin: float | None = None
    """Relative margin that PASS must rule out; None: no such requirement."""
    absolute_noninferiority_margin: float = 0.0
    hard_limit: float | None = None
    """Absolute limit on the candidate (upper if higher is worse), judged on bounds."""
    compare: bool = True
    """Compare with stable; False judges the hard limit alone."""
    critical: bool = False
    """Fail at once: no warm-up wait, no consecutive-failure limit."""
    dry_run: bool = False
    """Evaluated and reported, never acted on."""
    guardrail: bool = True
    """Member of the Holm family whose family-wise error is controlled."""
    min_samples: int = 100
    """Per arm, before the metric may pass or (unless critical) fail."""
    min_duration: float = 0.0
    """Seconds since the step started before the metric may pass or fail."""
    failure_limit: int = 1
    """Consecutive failing ticks needed to FAIL."""
    scale: float = DEFAULT_LOG_ODDS_SCALE
    """Rates: prior spread of the log rate ratio (exact tests and hard limits)."""
    rho: float | None = None
    """Normal-mixture parameter; None: the default for the metric's kind."""

    def __post_init__(self) -> None:
        if not self.name:
            raise AnalysisError("a metric needs a name")
        if self.min_samples < 0 or self.min_duration < 0:
            raise AnalysisError(f"{self.name}: min_samples and min_duration must be >= 0")
        if self.failure_limit < 1:
            raise AnalysisError(f"{self.name}: failure_limit must be >= 1")
        if not self.compare and self.hard_limit is None:
            raise AnalysisError(f"{self.name}: compare=False needs a hard_limit")


@dataclass(frozen=True, slots=True)
class MetricData:
    """Running statistics of one metric over the step's window."""

    candidate: Proportion | MeanStats
    stable: Proportion | MeanStats | None = None

    def __post_init__(self) -> None:
        if self.stable is not None and type(self.stable) is not type(self.candidate):
            raise AnalysisError("candidate and stable must be the same kind of statistic")

    @property
    def is_rate(self) -> bool:
        return isinstance(self.candidate, Proportion)


@dataclass(frozen=True, slots=True)
class Evidence:
    """What :func:`assess_metric` decides on (already reduced to booleans)."""

    candidate_n: int
    stable_n: int | None
    """None when the metric is not compared with stable."""
    elapsed: float
    harmful: bool = False
    noninferior: bool | None = None
    limit: LimitStatus | None = None
    frozen: bool = False
    """An SRM makes comparisons invalid."""


@dataclass(frozen=True, slots=True)
class MetricVerdict:
    name: str
    verdict: Verdict
    reason: str
    consecutive_failures: int
    critical: bool
    dry_run: bool
    comparison: RateComparison | MeanComparison | None = None
    hard_limit: HardLimitResult | None = None
    harm_p_value_adjusted: float | None = None
    """Holm-adjusted harm p-value (raw if the metric is not in the family)."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = to_jsonable(self)
        return out


@dataclass(frozen=True, slots=True)
class StepAnalysis:
    decision: StepDecision
    reason: str
    verdicts: tuple[MetricVerdict, ...]
    srm: SRMResult | None = None
    failure_counts: Mapping[str, int] = field(default_factory=dict)
    """Pass back to the next :func:`evaluate_step` call (the only state)."""

    @property
    def frozen(self) -> bool:
        return self.srm is not None and self.srm.mismatch

    def verdict(self, name: str) -> MetricVerdict:
        for v in self.verdicts:
            if v.name == name:
                return v
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = to_jsonable(self)
        out["frozen"] = self.frozen
        return out


def assess_metric(
    spec: MetricSpec, evidence: Evidence, previous_failures: int = 0
) -> tuple[Verdict, str, int]:
    """The decision rule: ``(verdict, reason, consecutive failures)`` (see module doc)."""
    ev = evidence
    compared = ev.stable_n is not None
    breached = ev.limit is LimitStatus.BREACHED
    if ev.candidate_n == 0:
        return Verdict.NODATA, "no candidate data", 0
    if compared and ev.stable_n == 0 and not breached:
        return Verdict.NODATA, "no stable data to compare with", 0

    harm = compared and ev.harmful and not ev.frozen
    failing = breached or harm
    why = "hard limit breached" if breached else "harm detected against stable"
    if failing and spec.critical:
        return Verdict.FAIL, f"{why} (critical)", previous_failures + 1

    short = []
    if ev.candidate_n < spec.min_samples or (compared and (ev.stable_n or 0) < spec.min_samples):
        short.append(f"fewer than {spec.min_samples} samples per arm")
    if ev.elapsed < spec.min_duration:
        short.append(f"less than {spec.min_duration:g} s elapsed")
    if short:
        return Verdict.INCONCLUSIVE, "warming up: " + ", ".join(short), 0

    if failing:
        count = previous_failures + 1
        if count >= spec.failure_limit:
            return Verdict.FAIL, why, count
        return Verdict.INCONCLUSIVE, f"{why} ({count}/{spec.failure_limit} in a row)", count

    if compared and ev.frozen:
        return Verdict.INCONCLUSIVE, "sample ratio mismatch: comparison frozen", 0
    if ev.limit is not None and ev.limit is not LimitStatus.COMPLIANT:
        return Verdict.INCONCLUSIVE, "hard limit not yet shown to hold", 0
    if compared and spec.noninferiority_margin is not None and not ev.noninferior:
        return Verdict.INCONCLUSIVE, "non-inferiority not yet shown", 0
    return Verdict.PASS, "all requirements met", 0


def decide_step(
    verdicts: Iterable[MetricVerdict], *, frozen: bool = False
) -> tuple[StepDecision, str]:
    """Roll back on any FAIL, hold on anything short of PASS, else advance."""
    active = [v for v in verdicts if not v.dry_run]
    failed = [v.name for v in active if v.verdict.triggers_rollback]
    if failed:
        return StepDecision.ROLLBACK, "failed: " + ", ".join(failed)
    if frozen:
        return StepDecision.HOLD, "sample ratio mismatch: decisions frozen"
    if not active:
        return StepDecision.HOLD, "no metrics to judge"
    waiting = [f"{v.name} ({v.verdict.value})" for v in active if v.verdict.blocks_advance]
    if waiting:
        return StepDecision.HOLD, "waiting on: " + ", ".join(waiting)
    return StepDecision.ADVANCE, "all metrics passed"


def _compare(
    spec: MetricSpec, data: MetricData, alpha: float, share: float | None
) -> RateComparison | MeanComparison:
    assert data.stable is not None
    if isinstance(data.candidate, Proportion):
        assert isinstance(data.stable, Proportion)
        if spec.absolute_tolerance or spec.absolute_noninferiority_margin:
            raise AnalysisError(f"{spec.name}: rates take relative margins only")
        test = RateTest(
            alpha=alpha,
            tolerance=spec.tolerance,
            noninferiority_margin=spec.noninferiority_margin,
            scale=spec.scale,
            rho=spec.rho or DEFAULT_RATE_RHO,
            share=share,
        )
        return compare_rates(data.candidate, data.stable, test)
    assert isinstance(data.stable, MeanStats)
    mean_test = MeanTest(
        alpha=alpha,
        higher_is_worse=spec.higher_is_worse,
        tolerance=spec.tolerance,
        absolute_tolerance=spec.absolute_tolerance,
        noninferiority_margin=spec.noninferiority_margin,
        absolute_noninferiority_margin=spec.absolute_noninferiority_margin,
        rho=spec.rho or DEFAULT_MEAN_RHO,
    )
    return compare_means(data.candidate, data.stable, mean_test)


def evaluate_step(
    specs: Sequence[MetricSpec],
    data: Mapping[str, MetricData],
    *,
    elapsed: float,
    failure_counts: Mapping[str, int] | None = None,
    srm: SRMResult | None = None,
    alpha: float = 0.05,
    share: float | None = None,
) -> StepAnalysis:
    """Judge every metric of a step and decide rollback / hold / advance.

    ``data`` maps metric name to its statistics (a missing name is NODATA);
    ``share`` is the candidate's configured fraction of candidate+stable traffic for
    the exact rate tests (None: the realised share, right when the window spans
    several weights).
    """
    if not 0.0 < alpha < 1.0:
        raise AnalysisError(f"alpha must be in (0, 1), got {alpha}")
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise AnalysisError("metric names must be unique")
    previous = failure_counts or {}
    frozen = srm is not None and srm.mismatch

    comparisons: dict[str, RateComparison | MeanComparison] = {}
    limits: dict[str, HardLimitResult] = {}
    for spec in specs:
        d = data.get(spec.name)
        if d is None:
            continue
        if d.is_rate and not spec.higher_is_worse:
            raise AnalysisError(f"{spec.name}: rates count the bad outcome (higher_is_worse)")
        try:
            if spec.compare and d.stable is not None:
                comparisons[spec.name] = _compare(spec, d, alpha, share)
            if spec.hard_limit is not None:
                limits[spec.name] = check_hard_limit(
                    d.candidate,
                    spec.hard_limit,
                    alpha=alpha,
                    higher_is_worse=spec.higher_is_worse,
                    scale=spec.scale,
                    rho=spec.rho or DEFAULT_MEAN_RHO,
                )
        except AnalysisError as exc:
            if str(exc).startswith(f"{spec.name}:"):
                raise
            raise AnalysisError(f"{spec.name}: {exc}") from exc

    family = [s.name for s in specs if s.guardrail and not s.dry_run and s.name in comparisons]
    adjusted = dict(
        zip(family, holm_adjust([comparisons[n].harm_p_value for n in family]), strict=True)
    )

    verdicts: list[MetricVerdict] = []
    counts: dict[str, int] = {}
    for spec in specs:
        d = data.get(spec.name)
        comp = comparisons.get(spec.name)
        limit = limits.get(spec.name)
        harm_p = adjusted.get(spec.name, comp.harm_p_value if comp else None)
        if d is None:
            verdict, reason, count = Verdict.NODATA, "no data reported", 0
        else:
            compared = spec.compare
            evidence = Evidence(
                candidate_n=d.candidate.n,
                stable_n=(d.stable.n if d.stable is not None else 0) if compared else None,
                elapsed=elapsed,
                harmful=harm_p is not None and harm_p <= alpha,
                noninferior=comp.noninferior if comp else None,
                limit=limit.status if limit else None,
                frozen=frozen,
            )
            verdict, reason, count = assess_metric(spec, evidence, previous.get(spec.name, 0))
        counts[spec.name] = count
        verdicts.append(
            MetricVerdict(
                name=spec.name,
                verdict=verdict,
                reason=reason,
                consecutive_failures=count,
                critical=spec.critical,
                dry_run=spec.dry_run,
                comparison=comp,
                hard_limit=limit,
                harm_p_value_adjusted=harm_p,
            )
        )
    decision, why = decide_step(verdicts, frozen=frozen)
    return StepAnalysis(
        decision=decision, reason=why, verdicts=tuple(verdicts), srm=srm, failure_counts=counts
    )
