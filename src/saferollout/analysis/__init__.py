"""Statistics for safe rollouts: pure functions on counts and sums, no I/O.

The controller aggregates per-version counts and sums from the store and calls
:func:`evaluate_step` every tick; everything else here is the machinery behind it,
public for the report, the dashboard and post-rollout vigilance:

* sufficient statistics: :class:`Proportion`, :class:`MeanStats`, :class:`Interval`
* always-valid comparisons: :func:`compare_rates` (exact event-split e-value),
  :func:`compare_means` (normal mixture with Kayenta-style margins)
* hard limits on always-valid bounds: :func:`check_hard_limit`
* verdicts and the step decision: :func:`evaluate_step`, :func:`assess_metric`
* sample ratio mismatch: :func:`sample_ratio_mismatch`
* output anomalies: :func:`output_features`, :class:`RobustBaseline`
* drift: :func:`feature_drift`, :func:`drift_report`, :func:`mmd_test`
* post-rollout CUSUM: :class:`BernoulliCusum`
* A/B report data: :func:`ab_report`
"""

from __future__ import annotations

from ._ab import ABDecision, ABMetricRow, ABReport, ArmSummary, ab_report
from ._anomaly import (
    AnomalyScore,
    OutputFeatures,
    RobustBaseline,
    anomaly_rate,
    dominant_script,
    output_features,
    score_output,
)
from ._beta_binomial import (
    DEFAULT_LOG_ODDS_SCALE,
    beta_binomial_log_e,
    proportion_bounds,
    proportion_confidence_sequence,
)
from ._compare import (
    DEFAULT_RATE_RHO,
    MeanComparison,
    MeanTest,
    RateComparison,
    RateTest,
    compare_means,
    compare_rates,
    effective_sample_size,
    rate_difference_confidence_sequence,
)
from ._cusum import BernoulliCusum, CusumState
from ._drift import (
    DriftThresholds,
    FeatureDrift,
    MMDResult,
    drift_report,
    feature_drift,
    mmd_test,
    population_stability_index,
)
from ._errors import AnalysisError
from ._fixed import (
    fieller_interval,
    two_proportion_z_test,
    wald_difference_interval,
    welch_interval,
    welch_test,
    wilson_interval,
)
from ._limits import HardLimitResult, LimitStatus, check_hard_limit
from ._multiple import holm_adjust
from ._normal_mixture import (
    DEFAULT_MEAN_RHO,
    log_e_to_p_value,
    mean_confidence_sequence,
    normal_mixture_log_e,
    normal_mixture_radius,
    one_sided_radius,
    rho_for_sample_size,
)
from ._rate_ratio import rate_ratio, rate_ratio_confidence_sequence, rate_ratio_log_e
from ._serialize import to_jsonable
from ._srm import DEFAULT_SRM_ALPHA, SRMResult, sample_ratio_mismatch
from ._stats import Interval, MeanStats, Proportion
from ._types import Alternative
from ._verdicts import (
    Evidence,
    MetricData,
    MetricSpec,
    MetricVerdict,
    StepAnalysis,
    StepDecision,
    Verdict,
    assess_metric,
    decide_step,
    evaluate_step,
)

__all__ = [
    "DEFAULT_LOG_ODDS_SCALE",
    "DEFAULT_MEAN_RHO",
    "DEFAULT_RATE_RHO",
    "DEFAULT_SRM_ALPHA",
    "ABDecision",
    "ABMetricRow",
    "ABReport",
    "Alternative",
    "AnalysisError",
    "AnomalyScore",
    "ArmSummary",
    "BernoulliCusum",
    "CusumState",
    "DriftThresholds",
    "Evidence",
    "FeatureDrift",
    "HardLimitResult",
    "Interval",
    "LimitStatus",
    "MMDResult",
    "MeanComparison",
    "MeanStats",
    "MeanTest",
    "MetricData",
    "MetricSpec",
    "MetricVerdict",
    "OutputFeatures",
    "Proportion",
    "RateComparison",
    "RateTest",
    "RobustBaseline",
    "SRMResult",
    "StepAnalysis",
    "StepDecision",
    "Verdict",
    "ab_report",
    "anomaly_rate",
    "assess_metric",
    "beta_binomial_log_e",
    "check_hard_limit",
    "compare_means",
    "compare_rates",
    "decide_step",
    "dominant_script",
    "drift_report",
    "effective_sample_size",
    "evaluate_step",
    "feature_drift",
    "fieller_interval",
    "holm_adjust",
    "log_e_to_p_value",
    "mean_confidence_sequence",
    "mmd_test",
    "normal_mixture_log_e",
    "normal_mixture_radius",
    "one_sided_radius",
    "output_features",
    "population_stability_index",
    "proportion_bounds",
    "proportion_confidence_sequence",
    "rate_difference_confidence_sequence",
    "rate_ratio",
    "rate_ratio_confidence_sequence",
    "rate_ratio_log_e",
    "rho_for_sample_size",
    "sample_ratio_mismatch",
    "score_output",
    "to_jsonable",
    "two_proportion_z_test",
    "wald_difference_interval",
    "welch_interval",
    "welch_test",
    "wilson_interval",
]
