"""The scorer registry: name -> Scorer class. A new scorer is one module and one entry here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._bias import BiasScorer
from ._exceptions import UnknownScorer
from ._harmful import HarmfulScorer
from ._interface import Scorer
from ._judge import JudgeScorer
from ._pii import PiiScorer
from ._prompt_risk import PromptRiskScorer
from ._refusal import RefusalScorer

if TYPE_CHECKING:
    from saferollout.config import SafetyConfig

SCORERS: dict[str, type[Scorer]] = {
    "pii": PiiScorer,
    "harmful": HarmfulScorer,
    "refusal": RefusalScorer,
    "prompt_risk": PromptRiskScorer,
    "bias": BiasScorer,
    "judge": JudgeScorer,
}

#: Scorers that judge the request, not the response.
REQUEST_SIDE: frozenset[str] = frozenset({"prompt_risk"})


def register_scorer(cls: type[Scorer]) -> type[Scorer]:
    """Add a scorer class under `cls.name` (usable as a decorator)."""
    SCORERS[cls.name] = cls
    return cls


def scorer_class(name: str) -> type[Scorer]:
    try:
        return SCORERS[name]
    except KeyError:
        if name == "anomaly":  # a pipeline stage (see _anomaly), not a scorer
            raise UnknownScorer(
                "'anomaly' is not a scorer: answers are checked for anomalies when "
                "safety.anomaly.enabled (the default)"
            ) from None
        known = ", ".join(sorted(SCORERS))
        raise UnknownScorer(f"unknown scorer {name!r}; known scorers: {known}") from None


def build_scorer(name: str, config: SafetyConfig | None = None) -> Scorer:
    """An instance of the named scorer configured from `safety:` (defaults when None)."""
    return scorer_class(name).from_config(config)
