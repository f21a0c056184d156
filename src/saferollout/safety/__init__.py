"""Safety scorers, guardrails, the scoring pipeline and the harness that measures them.

Public surface for other packages (everything else is private):

- scorers: `Scorer`, `Interaction`, `ScoreResult`, `SCORERS`, `build_scorer`,
  `register_scorer`, and the built-ins `PiiScorer`, `HarmfulScorer`,
  `RefusalScorer`, `PromptRiskScorer`, `BiasScorer`, `JudgeScorer`;
- PII helpers: `find_pii`, `mask_pii` (for `logging.redact: pii`), `PiiEntity`;
- guardrails (gateway): `Guardrails`, `GuardrailDecision`, `StreamGuard`,
  `blocked_completion`, `blocked_chunks`, `blocked_text_completion`;
- pipeline (serve, score-worker): `Pipeline`, `run_worker`,
  `ScoringWorkerProcess`, `backlog`, `WorkerStats`; output anomalies against
  the stable version's answers are a stage of the pipeline
  (`Pipeline.from_config(..., store=...)`, `_anomaly.AnomalyDetector`), not a
  scorer, and need nothing from other packages;
- harness (eval-scorers, bench): `evaluate`, `EvalReport`, `measure_throughput`;
- judge: `JudgeClient`, `LLAMA_GUARD_CATEGORIES`.
"""

from __future__ import annotations

from ._bias import BiasScorer, score_bias
from ._exceptions import DatasetError, JudgeError, ModelDataError, SafetyError, UnknownScorer
from ._guardrails import (
    GuardrailDecision,
    Guardrails,
    StreamGuard,
    blocked_chunks,
    blocked_completion,
    blocked_text_completion,
)
from ._harmful import HARM_CATEGORIES, HarmfulScorer
from ._harness import FORMATS, EvalReport, detect_format, evaluate, measure_throughput
from ._interface import Scorer
from ._judge import (
    LLAMA_GUARD_CATEGORIES,
    JudgeClient,
    JudgeScorer,
    parse_llama_guard,
    render_llama_guard_prompt,
)
from ._metrics import BinaryMetrics, SpanMetrics, binary_metrics
from ._pii import (
    ENTITY_TYPES,
    PiiEntity,
    PiiScorer,
    find_pii,
    mask_pii,
    mask_pii_in,
    split_leaks,
)
from ._pipeline import Pipeline, ScoringWorkerProcess, WorkerStats, backlog, run_worker, sampled
from ._prompt_risk import PromptRiskScorer
from ._refusal import RefusalScorer, RefusalVerdict, classify_refusal
from ._registry import SCORERS, build_scorer, register_scorer, scorer_class
from ._types import Interaction, ScoreResult

__all__ = [
    "ENTITY_TYPES",
    "FORMATS",
    "HARM_CATEGORIES",
    "LLAMA_GUARD_CATEGORIES",
    "SCORERS",
    "BiasScorer",
    "BinaryMetrics",
    "DatasetError",
    "EvalReport",
    "GuardrailDecision",
    "Guardrails",
    "HarmfulScorer",
    "Interaction",
    "JudgeClient",
    "JudgeError",
    "JudgeScorer",
    "ModelDataError",
    "PiiEntity",
    "PiiScorer",
    "Pipeline",
    "PromptRiskScorer",
    "RefusalScorer",
    "RefusalVerdict",
    "SafetyError",
    "ScoreResult",
    "Scorer",
    "ScoringWorkerProcess",
    "SpanMetrics",
    "StreamGuard",
    "UnknownScorer",
    "WorkerStats",
    "backlog",
    "binary_metrics",
    "blocked_chunks",
    "blocked_completion",
    "blocked_text_completion",
    "build_scorer",
    "classify_refusal",
    "detect_format",
    "evaluate",
    "find_pii",
    "mask_pii",
    "mask_pii_in",
    "measure_throughput",
    "parse_llama_guard",
    "register_scorer",
    "render_llama_guard_prompt",
    "run_worker",
    "sampled",
    "score_bias",
    "scorer_class",
    "split_leaks",
]
