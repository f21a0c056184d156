"""The scorer interface: a batch of interactions in, one ScoreResult per interaction out.

A new scorer is one module with a `Scorer` subclass and one entry in
`_registry.SCORERS`. Scorers are built from the `safety:` config section and
must be safe to call from one thread at a time (the worker is single-threaded;
guardrails build their own instances).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from ._types import Interaction, ScoreResult

if TYPE_CHECKING:
    from saferollout.config import SafetyConfig


class Scorer(ABC):
    """Scores interactions in batches; fast scorers run on every record, slow ones sampled."""

    name: ClassVar[str]
    #: A slow scorer (network, big model) runs on a sample of records.
    slow: ClassVar[bool] = False
    #: Scores this scorer can emit, for docs and the harness.
    outputs: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_config(cls, config: SafetyConfig | None = None) -> Scorer:
        """Build with the thresholds and options of `safety:`; defaults when None."""
        return cls()

    @abstractmethod
    def score_batch(self, items: Sequence[Interaction]) -> list[ScoreResult]:
        """One result per item, in order."""

    def score(self, item: Interaction) -> ScoreResult:
        return self.score_batch([item])[0]

    def close(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Release connections or other resources (default: nothing to release)."""
