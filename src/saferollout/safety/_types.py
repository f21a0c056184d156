"""The values scorers take and return, shared by every module of the package."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._text import TextView

Message = Mapping[str, Any]  # {"role": ..., "content": str | list of parts}


def content_text(content: Any) -> str:
    """The text of a message's content: a string, or OpenAI content parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "\n".join(parts)
    return str(content)


@dataclass(slots=True)
class Interaction:
    """What a scorer sees of one record: the request's messages and the response text."""

    request_id: str = ""
    messages: Sequence[Message] | None = None
    response: str = ""
    _response_view: TextView | None = field(default=None, init=False, repr=False, compare=False)
    _prompt_view: TextView | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def response_view(self) -> TextView:
        """The response's normalized text and tokens, shared by all scorers of a batch."""
        if self._response_view is None:
            self._response_view = TextView(self.response)
        return self._response_view

    @property
    def prompt_view(self) -> TextView:
        if self._prompt_view is None:
            self._prompt_view = TextView(self.prompt)
        return self._prompt_view

    @property
    def prompt(self) -> str:
        """The last user message: what the model was asked to do now."""
        for message in reversed(self.messages or ()):
            if message.get("role", "user") == "user":
                return content_text(message.get("content"))
        return ""

    @property
    def request_text(self) -> str:
        """Every message of the request, for finding PII the user supplied (echo vs leak)."""
        return "\n".join(content_text(m.get("content")) for m in self.messages or ())

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Interaction:
        """From a store row dict (`Store.claim_unscored`)."""
        return cls(
            request_id=str(row.get("request_id", "")),
            messages=row.get("request_messages") or None,
            response=row.get("response_text") or "",
        )

    @classmethod
    def of(cls, prompt: str = "", response: str = "", request_id: str = "") -> Interaction:
        """A one-turn interaction, for tests, the harness and guardrails."""
        messages = [{"role": "user", "content": prompt}] if prompt else None
        return cls(request_id=request_id, messages=messages, response=response)


@dataclass(slots=True)
class ScoreResult:
    """One scorer's output for one interaction.

    `scores` are in [0, 1] and named `<scorer>` or `<scorer>.<part>`; `flags`
    are the scorer's own verdicts (the pipeline derives the stored flag columns
    from them); `evidence` is JSON-ready detail for the log and dashboard.
    """

    scores: dict[str, float] = field(default_factory=dict)
    flags: dict[str, bool] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)
