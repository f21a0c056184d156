"""Anomaly detection on model outputs, scored against the stable version.

A broken candidate often fails in ways no safety scorer is looking for: empty
answers, loops ("the the the"), mojibake, answers in the wrong language. Each
response is reduced to a few cheap features (:func:`output_features`, pure Python,
microseconds per response), and each feature is scored as a robust z-score against
the stable version's distribution:

    z = (x - median) / max(1.4826 * MAD, min_scale)

(Rousseeuw & Croux 1993; Iglewicz & Hoaglin 1993 flag |modified z| > 3.5). Median and
MAD ignore the very outliers being looked for, which a mean and standard deviation
would not. ``min_scale`` keeps a feature that is almost always 0 on stable (non-text
characters) from turning any non-zero value into an infinite score. Only the bad
direction counts for ratio features (more repetition is suspicious, less is not);
length is two-sided (truncated and runaway answers).

The anomaly flag per response becomes a rate metric per version (:func:`anomaly_rate`)
compared with :func:`compare_rates` like any other.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ._errors import AnalysisError
from ._stats import Proportion

__all__ = [
    "AnomalyScore",
    "OutputFeatures",
    "RobustBaseline",
    "anomaly_rate",
    "dominant_script",
    "output_features",
    "score_output",
]

_APOSTROPHE = "['\u2019]?"  # straight or typographic apostrophe, or none
_REFUSAL = re.compile(
    rf"\b(?:i{_APOSTROPHE}m sorry,? but|i am sorry,? but"
    rf"|i (?:can{_APOSTROPHE}t|cannot|won{_APOSTROPHE}t|will not)"
    r" (?:help|assist|comply|provide|do that)"
    rf"|i{_APOSTROPHE}m (?:not able|unable) to|i am (?:not able|unable) to"
    r"|as an ai(?: language model)?,? i)",
    re.IGNORECASE,
)
_WORD = re.compile(r"\w+", re.UNICODE)

# Feature name -> (two-sided?, minimum scale). Length is scored on log1p(chars).
SCORED_FEATURES: Mapping[str, tuple[bool, float]] = {
    "log_length": (True, 0.25),
    "repetition": (False, 0.05),
    "non_text_ratio": (False, 0.01),
    "off_script_ratio": (False, 0.05),
}


def _script(ch: str) -> str | None:
    """First word of the Unicode name of a letter ("LATIN", "CYRILLIC", "CJK", ...)."""
    if not unicodedata.category(ch).startswith("L"):
        return None
    name = unicodedata.name(ch, "")
    return name.split(" ", 1)[0] if name else None


def dominant_script(text: str) -> str | None:
    """The script most letters of ``text`` are written in; None without letters.

    Compare a response's script with its prompt's to catch wrong-language answers.
    """
    counts = Counter(s for s in map(_script, text) if s is not None)
    return counts.most_common(1)[0][0] if counts else None


def _duplicate_ratio(items: list[str] | list[tuple[str, ...]]) -> float:
    return 1.0 - len(set(items)) / len(items) if items else 0.0


def _repetition(text: str) -> float:
    """Share of repeated word 3-grams; character 5-grams for text without spaces."""
    words = [w.lower() for w in _WORD.findall(text)]
    if len(words) >= 4:
        return _duplicate_ratio([tuple(words[i : i + 3]) for i in range(len(words) - 2)])
    squashed = "".join(text.split())
    if len(squashed) >= 20:
        return _duplicate_ratio([squashed[i : i + 5] for i in range(len(squashed) - 4)])
    return 0.0


def _non_text(ch: str) -> bool:
    if ch in "\n\r\t":
        return False
    return ch == "\ufffd" or unicodedata.category(ch).startswith("C")


@dataclass(frozen=True, slots=True)
class OutputFeatures:
    """Cheap per-response features (see module doc)."""

    length: int
    repetition: float
    empty: bool
    non_text_ratio: float
    script: str | None
    off_script_ratio: float
    refusal: bool

    def numeric(self) -> dict[str, float]:
        """The features scored against the baseline."""
        return {
            "log_length": math.log1p(self.length),
            "repetition": self.repetition,
            "non_text_ratio": self.non_text_ratio,
            "off_script_ratio": self.off_script_ratio,
        }


def output_features(text: str, *, expected_script: str | None = None) -> OutputFeatures:
    """Features of one response; ``expected_script`` (e.g. the prompt's) enables the
    wrong-language check, otherwise ``off_script_ratio`` measures mixed scripts."""
    visible = [ch for ch in text if not ch.isspace()]
    scripts = [s for s in map(_script, text) if s is not None]
    script = Counter(scripts).most_common(1)[0][0] if scripts else None
    reference = expected_script or script
    off = sum(s != reference for s in scripts) / len(scripts) if scripts else 0.0
    return OutputFeatures(
        length=len(text),
        repetition=_repetition(text),
        empty=not visible,
        non_text_ratio=sum(map(_non_text, visible)) / len(visible) if visible else 0.0,
        script=script,
        off_script_ratio=off,
        refusal=bool(_REFUSAL.search(text)),
    )


@dataclass(frozen=True, slots=True)
class RobustBaseline:
    """Median and robust scale of each scored feature on stable's outputs."""

    median: Mapping[str, float]
    scale: Mapping[str, float]
    n: int

    @classmethod
    def fit(cls, rows: Iterable[OutputFeatures]) -> RobustBaseline:
        """Fit on stable's features (a few hundred responses are plenty)."""
        table = [r.numeric() for r in rows if not r.empty]
        if not table:
            raise AnalysisError("a baseline needs at least one non-empty stable output")
        median: dict[str, float] = {}
        scale: dict[str, float] = {}
        for name, (_, floor) in SCORED_FEATURES.items():
            values = np.array([row[name] for row in table])
            med = float(np.median(values))
            mad = float(np.median(np.abs(values - med)))
            median[name] = med
            scale[name] = max(1.4826 * mad, floor)
        return cls(median=median, scale=scale, n=len(table))

    def z_scores(self, features: OutputFeatures) -> dict[str, float]:
        values = features.numeric()
        return {
            name: (values[name] - self.median[name]) / self.scale[name] for name in SCORED_FEATURES
        }


@dataclass(frozen=True, slots=True)
class AnomalyScore:
    z: Mapping[str, float]
    score: float
    """Largest z in the bad direction (inf for an empty output)."""
    anomalous: bool
    reasons: tuple[str, ...] = field(default=())


def score_output(
    features: OutputFeatures, baseline: RobustBaseline, *, threshold: float = 5.0
) -> AnomalyScore:
    """Flag a response whose worst feature lies ``threshold`` robust z-scores out."""
    if features.empty:
        return AnomalyScore(z={}, score=math.inf, anomalous=True, reasons=("empty output",))
    z = baseline.z_scores(features)
    directional = {name: abs(v) if SCORED_FEATURES[name][0] else v for name, v in z.items()}
    reasons = tuple(f"{name} z={v:.1f}" for name, v in directional.items() if v > threshold)
    score = max(directional.values())
    return AnomalyScore(z=z, score=score, anomalous=bool(reasons), reasons=reasons)


def anomaly_rate(
    outputs: Iterable[OutputFeatures], baseline: RobustBaseline, *, threshold: float = 5.0
) -> Proportion:
    """Anomalous responses out of all, as a rate metric for one version."""
    flags = [score_output(f, baseline, threshold=threshold).anomalous for f in outputs]
    return Proportion(len(flags), sum(flags))
