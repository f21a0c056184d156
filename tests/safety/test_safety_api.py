"""The package's public surface and its config section."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

import saferollout.safety as safety
from saferollout.config import SafetyConfig


def test_public_names() -> None:
    assert sorted(safety.__all__) == sorted(
        [
            "ENTITY_TYPES", "FORMATS", "HARM_CATEGORIES", "LLAMA_GUARD_CATEGORIES", "SCORERS",
            "BiasScorer", "BinaryMetrics", "DatasetError", "EvalReport", "GuardrailDecision",
            "Guardrails", "HarmfulScorer", "Interaction", "JudgeClient", "JudgeError",
            "JudgeScorer", "ModelDataError", "PiiEntity", "PiiScorer", "Pipeline",
            "PromptRiskScorer", "RefusalScorer", "RefusalVerdict", "SafetyError", "ScoreResult",
            "Scorer", "ScoringWorkerProcess", "SpanMetrics", "StreamGuard", "UnknownScorer",
            "WorkerStats", "backlog", "binary_metrics", "blocked_chunks", "blocked_completion",
            "blocked_text_completion", "build_scorer", "classify_refusal", "detect_format",
            "evaluate", "find_pii", "mask_pii", "mask_pii_in", "measure_throughput",
            "parse_llama_guard",
            "register_scorer", "render_llama_guard_prompt", "run_worker", "sampled",
            "score_bias", "scorer_class", "split_leaks",
        ]
    )  # fmt: skip
    for name in safety.__all__:
        assert hasattr(safety, name), name


def test_registry_builds_every_offline_scorer() -> None:
    for name in ("pii", "harmful", "refusal", "prompt_risk", "bias"):
        scorer = safety.build_scorer(name)
        assert scorer.name == name and not scorer.slow
    assert safety.SCORERS["judge"].slow
    with pytest.raises(safety.UnknownScorer, match="known scorers: bias, harmful"):
        safety.build_scorer("toxicity")


def test_a_new_scorer_is_one_class_and_one_entry() -> None:
    class Length(safety.Scorer):
        name = "length_test"

        def score_batch(self, items):  # type: ignore[no-untyped-def]
            return [safety.ScoreResult(scores={"length": len(i.response) / 100}) for i in items]

    safety.register_scorer(Length)
    try:
        p = safety.Pipeline.from_config(SafetyConfig(scorers=["length_test"]))
        (u,) = p.score_rows([{"request_id": "a", "response_text": "x" * 50, "status_code": 200}])
        assert u.scores == {"length": 0.5}
    finally:
        del safety.SCORERS["length_test"]


def test_empty_safety_section_works_and_typos_fail() -> None:
    c = SafetyConfig.model_validate({})
    assert c.scorers == ["pii", "harmful", "refusal", "prompt_risk", "bias"]
    assert c.guardrails.input.mode == "off" and not c.judge.enabled
    with pytest.raises(ValidationError):
        SafetyConfig.model_validate({"thresholds": {"violense": 0.3}})
    with pytest.raises(ValidationError, match=r"judge\.enabled needs judge\.url"):
        SafetyConfig.model_validate({"judge": {"enabled": True}})
    with pytest.raises(ValidationError, match="listed twice"):
        SafetyConfig.model_validate({"scorers": ["pii", "pii"]})
    with pytest.raises(ValidationError):
        SafetyConfig.model_validate({"sample_rates": {"judge": 2}})
