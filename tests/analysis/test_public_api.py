"""Pins the public surface of the analysis package and its purity."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import saferollout.analysis as analysis

PACKAGE = Path(analysis.__file__).parent

EXPECTED = {
    "ABDecision", "ABMetricRow", "ABReport", "Alternative", "AnalysisError", "AnomalyScore",
    "ArmSummary", "BernoulliCusum", "CusumState", "DEFAULT_LOG_ODDS_SCALE", "DEFAULT_MEAN_RHO",
    "DEFAULT_RATE_RHO", "DEFAULT_SRM_ALPHA", "DriftThresholds", "Evidence", "FeatureDrift",
    "HardLimitResult", "Interval", "LimitStatus", "MMDResult", "MeanComparison", "MeanStats",
    "MeanTest", "MetricData", "MetricSpec", "MetricVerdict", "OutputFeatures", "Proportion",
    "RateComparison", "RateTest", "RobustBaseline", "SRMResult", "StepAnalysis",
    "StepDecision", "Verdict", "ab_report", "anomaly_rate", "assess_metric",
    "beta_binomial_log_e", "check_hard_limit", "compare_means", "compare_rates",
    "decide_step", "dominant_script", "drift_report", "effective_sample_size",
    "evaluate_step", "feature_drift", "fieller_interval", "holm_adjust", "log_e_to_p_value",
    "mean_confidence_sequence", "mmd_test", "normal_mixture_log_e", "normal_mixture_radius",
    "one_sided_radius", "output_features", "population_stability_index", "proportion_bounds",
    "proportion_confidence_sequence", "rate_difference_confidence_sequence", "rate_ratio",
    "rate_ratio_confidence_sequence", "rate_ratio_log_e", "rho_for_sample_size",
    "sample_ratio_mismatch", "score_output", "to_jsonable", "two_proportion_z_test",
    "wald_difference_interval", "welch_interval", "welch_test", "wilson_interval",
}  # fmt: skip


def test_all_is_pinned() -> None:
    assert set(analysis.__all__) == EXPECTED
    assert len(analysis.__all__) == len(EXPECTED)


def test_every_public_name_exists() -> None:
    for name in analysis.__all__:
        assert getattr(analysis, name) is not None


def test_pure_imports_only() -> None:
    """numpy/scipy and the standard library; nothing from other saferollout packages,
    nothing that does I/O."""
    allowed_third_party = {"numpy", "scipy"}
    forbidden = {"os", "io", "socket", "logging", "subprocess", "sqlalchemy", "aiohttp"}
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                if node.level:  # relative: must stay inside the package
                    assert node.level == 1, path
                    continue
                top = (node.module or "").split(".")[0]
            elif isinstance(node, ast.Import):
                top = node.names[0].name.split(".")[0]
            else:
                continue
            assert top != "saferollout", f"{path.name} imports {top}"
            assert top not in forbidden, f"{path.name} imports {top}"
            known = allowed_third_party | set(sys.stdlib_module_names) | {"__future__"}
            assert top in known, f"{path.name} imports {top}"
