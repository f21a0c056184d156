"""Guardrails on the request path: judge a prompt before the model sees it, or an answer
before the client does, in well under a millisecond for typical texts.

The gateway calls them; nothing here does I/O. How the gateway uses them:

- input: `decision = guardrails.check_input(messages)`; on `block`, answer with
  `blocked_completion(...)` (or `blocked_chunks(...)` for a stream) and never
  call the model; on `flag`, forward as usual.
- output, plain responses: `guardrails.check_output(text, messages)`; on
  `block`, return `blocked_completion(...)` instead of the model's answer.
- output, streams: `guard = guardrails.stream_guard(messages)`, then per
  upstream delta `guard.feed(delta)`. Under `stream_policy: flag` bytes flow as
  they come and `guard.finish()` returns a flag after the fact (never a block:
  the client already has the bytes). Under `buffer`, hold chunks while
  `guard.holding` is true; `feed` checks once the buffer reaches
  `buffer_max_chars` (then the rest flows and is checked at the end, flag
  only); at the end `guard.finish()` says release or block. Either way a
  stream is never a silent bypass: every stream gets a decision.
- every decision that is not `allow` goes into the record:
  `record.extra.update(decision.record_extra())`. Record the model's own answer
  in `response_text` (so the version is measured for what it produced); the
  scoring pipeline sets `guardrail_triggered` from `extra["guardrail"]`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ._harmful import HarmfulScorer
from ._pii import LEAK_MIN_SCORE, split_leaks
from ._prompt_risk import PromptRiskScorer
from ._types import Interaction, Message, content_text

if TYPE_CHECKING:
    from saferollout.config import SafetyConfig

Action = Literal["allow", "flag", "block"]
Stage = Literal["input", "output"]
DEFAULT_BLOCK_MESSAGE = "I can't help with that request."


@dataclass(frozen=True, slots=True)
class GuardrailDecision:
    """What a guardrail decided, and why (category and score), for one request."""

    action: Action
    stage: Stage
    category: str | None = None
    score: float = 0.0
    message: str | None = None  # the assistant text a blocked client receives

    @property
    def triggered(self) -> bool:
        return self.action != "allow"

    @property
    def blocked(self) -> bool:
        return self.action == "block"

    def record_extra(self) -> dict[str, Any]:
        """What the gateway adds to `InteractionRecord.extra` (empty when allowed)."""
        if not self.triggered:
            return {}
        return {
            "guardrail": {
                "stage": self.stage,
                "action": self.action,
                "category": self.category,
                "score": round(self.score, 4),
            }
        }


def _allow(stage: Stage) -> GuardrailDecision:
    return GuardrailDecision("allow", stage)


class Guardrails:
    """Input and output guardrails built from `safety.guardrails`."""

    def __init__(
        self,
        *,
        input_mode: Action | Literal["off"] = "off",
        input_threshold: float = 0.8,
        output_mode: Action | Literal["off"] = "off",
        output_threshold: float = 0.8,
        output_pii_leaks: bool = False,
        stream_policy: Literal["flag", "buffer"] = "flag",
        buffer_max_chars: int = 32_000,
        block_message: str = DEFAULT_BLOCK_MESSAGE,
        pii_entities: Sequence[str] | None = None,
    ) -> None:
        self.input_mode = input_mode
        self.input_threshold = input_threshold
        self.output_mode = output_mode
        self.output_threshold = output_threshold
        self.output_pii_leaks = output_pii_leaks
        self.stream_policy = stream_policy
        self.buffer_max_chars = buffer_max_chars
        self.block_message = block_message
        self.pii_entities = tuple(pii_entities) if pii_entities is not None else None
        # Models load once per process (cached); only the sides in use are loaded.
        on = ("flag", "block")
        self._risk = PromptRiskScorer() if input_mode in on else None
        self._harm = HarmfulScorer() if input_mode in on or output_mode in on else None

    @classmethod
    def from_config(cls, safety: SafetyConfig) -> Guardrails:
        g = safety.guardrails
        return cls(
            input_mode=g.input.mode,
            input_threshold=g.input.threshold,
            output_mode=g.output.mode,
            output_threshold=g.output.threshold,
            output_pii_leaks=g.output.pii_leaks,
            stream_policy=g.stream_policy,
            buffer_max_chars=g.buffer_max_chars,
            block_message=g.block_message,
            pii_entities=safety.pii.entities,
        )

    @property
    def input_enabled(self) -> bool:
        return self.input_mode in ("flag", "block")

    @property
    def output_enabled(self) -> bool:
        return self.output_mode in ("flag", "block")

    @property
    def buffers_streams(self) -> bool:
        """Whether streamed answers are held back until checked (`stream_policy: buffer`)."""
        return self.output_mode == "block" and self.stream_policy == "buffer"

    def check_input(self, messages: Sequence[Message] | None) -> GuardrailDecision:
        """Judge the request's user turns before any model sees them."""
        if self._risk is None or not messages:
            return _allow("input")
        item = Interaction(messages=messages)
        risk = self._risk.score_batch([item])[0].scores["prompt_risk"]
        if risk < self.input_threshold:
            return _allow("input")
        category = "harmful_request"
        if self._harm is not None:
            probs = self._harm.probabilities([item.prompt])[0]
            top = max(probs, key=probs.__getitem__)
            if probs[top] >= 0.3:
                category = top
        action: Action = "block" if self.input_mode == "block" else "flag"
        return GuardrailDecision(action, "input", category, risk, self._message(action))

    def check_output(
        self, text: str, messages: Sequence[Message] | None = None, *, stream: bool = False
    ) -> GuardrailDecision:
        """Judge a model's answer; `stream=True` when its bytes already reached the client."""
        if not self.output_enabled or not text:
            return _allow("output")
        category, score = None, 0.0
        assert self._harm is not None
        probs = self._harm.probabilities([text])[0]
        top = max(probs, key=probs.__getitem__)
        if probs[top] >= self.output_threshold:
            category, score = top, probs[top]
        elif self.output_pii_leaks:
            request = "\n".join(content_text(m.get("content")) for m in messages or ())
            leaked, _ = split_leaks(text, request, entities=self.pii_entities)
            strong = [e for e in leaked if e.score >= LEAK_MIN_SCORE]
            if strong:
                category, score = f"pii:{strong[0].type}", max(e.score for e in strong)
        if category is None:
            return _allow("output")
        action: Action = "block" if self.output_mode == "block" and not stream else "flag"
        return GuardrailDecision(action, "output", category, score, self._message(action))

    def stream_guard(self, messages: Sequence[Message] | None = None) -> StreamGuard:
        return StreamGuard(self, messages)

    def _message(self, action: Action) -> str | None:
        return self.block_message if action == "block" else None


class StreamGuard:
    """The output guardrail for one streamed answer (see the module docstring)."""

    def __init__(self, guardrails: Guardrails, messages: Sequence[Message] | None) -> None:
        self.guardrails = guardrails
        self.messages = messages
        self.holding = guardrails.buffers_streams
        self._parts: list[str] = []
        self._size = 0
        self.decision: GuardrailDecision | None = None  # set by an early (buffer-full) check

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def feed(self, delta: str) -> GuardrailDecision | None:
        """Add a streamed delta; returns a decision when the buffer just filled and was checked."""
        if not delta:
            return None
        self._parts.append(delta)
        self._size += len(delta)
        if self.holding and self._size >= self.guardrails.buffer_max_chars:
            self.decision = self.guardrails.check_output(self.text, self.messages)
            if not self.decision.blocked:
                self.holding = (
                    False  # release what is held; the rest flows and is checked at the end
                )
            return self.decision
        return None

    def finish(self) -> GuardrailDecision:
        """The decision for the whole answer: block (only while still holding), flag or allow."""
        if self.decision is not None and self.decision.blocked:
            return self.decision
        was_holding = self.holding
        self.holding = False
        final = self.guardrails.check_output(self.text, self.messages, stream=not was_holding)
        if final.triggered or self.decision is None:
            return final
        return self.decision


# -- the response a blocked client receives --------------------------------------------


def _ids(request_id: str | None, created: int | None) -> tuple[str, int]:
    rid = request_id or uuid.uuid4().hex
    return f"chatcmpl-{rid}", int(created if created is not None else time.time())


def blocked_completion(
    message: str = DEFAULT_BLOCK_MESSAGE,
    *,
    model: str,
    request_id: str | None = None,
    created: int | None = None,
) -> dict[str, Any]:
    """An OpenAI chat.completion carrying a refusal, with finish_reason "content_filter"."""
    cid, ts = _ids(request_id, created)
    return {
        "id": cid,
        "object": "chat.completion",
        "created": ts,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": message},
                "logprobs": None,
                "finish_reason": "content_filter",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def blocked_chunks(
    message: str = DEFAULT_BLOCK_MESSAGE,
    *,
    model: str,
    request_id: str | None = None,
    created: int | None = None,
) -> list[dict[str, Any]]:
    """The chat.completion.chunk objects of a blocked stream; send each as `data: <json>`,
    then `data: [DONE]`."""
    cid, ts = _ids(request_id, created)
    base = {"id": cid, "object": "chat.completion.chunk", "created": ts, "model": model}
    return [
        {
            **base,
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": message},
                    "logprobs": None,
                    "finish_reason": None,
                }
            ],
        },
        {
            **base,
            "choices": [
                {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "content_filter"}
            ],
        },
    ]


def blocked_text_completion(
    message: str = DEFAULT_BLOCK_MESSAGE,
    *,
    model: str,
    request_id: str | None = None,
    created: int | None = None,
) -> dict[str, Any]:
    """The same refusal for the legacy /v1/completions route (object "text_completion")."""
    _, ts = _ids(request_id, created)
    return {
        "id": f"cmpl-{request_id or uuid.uuid4().hex}",
        "object": "text_completion",
        "created": ts,
        "model": model,
        "choices": [
            {"index": 0, "text": message, "logprobs": None, "finish_reason": "content_filter"}
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }
