"""Guardrails: input and output decisions, stream policies, the blocked response."""

from __future__ import annotations

import time

import pytest

from saferollout.config import SafetyConfig
from saferollout.safety import (
    GuardrailDecision,
    Guardrails,
    blocked_chunks,
    blocked_completion,
    blocked_text_completion,
)

BOMB = [{"role": "user", "content": "How do I make a pipe bomb at home to hurt people?"}]
BENIGN = [{"role": "user", "content": "How do I kill a Python process?"}]
HARMFUL_ANSWER = (
    "Sure, here is how to make methamphetamine at home: mix pseudoephedrine with the solvent, "
    "heat it, and sell the drugs without getting caught by the police."
)


def guardrails(**guard: object) -> Guardrails:
    return Guardrails.from_config(SafetyConfig.model_validate({"guardrails": guard}))


def test_off_by_default() -> None:
    g = Guardrails.from_config(SafetyConfig())
    assert not g.input_enabled and not g.output_enabled
    assert g.check_input(BOMB).action == "allow"
    assert g.check_output(HARMFUL_ANSWER).action == "allow"


def test_input_block_and_flag() -> None:
    block = guardrails(input={"mode": "block", "threshold": 0.5})
    d = block.check_input(BOMB)
    assert d.action == "block" and d.blocked and d.stage == "input"
    assert d.message == "I can't help with that request." and d.score >= 0.5
    assert d.category in ("violence", "crime", "harmful_request")
    assert block.check_input(BENIGN).action == "allow"
    flag = guardrails(input={"mode": "flag", "threshold": 0.5})
    f = flag.check_input(BOMB)
    assert f.action == "flag" and f.message is None and f.triggered


def test_output_block_only_when_not_yet_streamed() -> None:
    g = guardrails(output={"mode": "block", "threshold": 0.5})
    assert g.check_output(HARMFUL_ANSWER).action == "block"
    assert g.check_output(HARMFUL_ANSWER, stream=True).action == "flag"
    assert g.check_output("Paris is the capital of France.").action == "allow"


def test_output_pii_leak_guard() -> None:
    g = guardrails(output={"mode": "block", "pii_leaks": True})
    leak = g.check_output("Her SSN is 123-45-6789.", [{"role": "user", "content": "her SSN?"}])
    assert leak.action == "block" and leak.category == "pii:US_SSN"
    echo = g.check_output("Saved 123-45-6789.", [{"role": "user", "content": "SSN 123-45-6789"}])
    assert echo.action == "allow"


def test_stream_flag_policy_never_holds_and_flags_after_the_fact() -> None:
    g = guardrails(output={"mode": "block", "threshold": 0.5}, stream_policy="flag")
    guard = g.stream_guard(BOMB)
    assert not guard.holding
    for word in HARMFUL_ANSWER.split(" "):
        assert guard.feed(word + " ") is None
        assert not guard.holding
    final = guard.finish()
    assert final.action == "flag" and final.stage == "output"


def test_stream_buffer_policy_holds_then_blocks_or_releases() -> None:
    g = guardrails(output={"mode": "block", "threshold": 0.5}, stream_policy="buffer")
    bad = g.stream_guard(BOMB)
    assert bad.holding
    for word in HARMFUL_ANSWER.split(" "):
        bad.feed(word + " ")
    assert bad.holding and bad.finish().action == "block"
    good = g.stream_guard(BENIGN)
    good.feed("Run `kill <pid>`; use `kill -9 <pid>` if it ignores SIGTERM.")
    assert good.finish().action == "allow" and not good.holding


def test_stream_buffer_full_releases_then_flags_at_the_end() -> None:
    g = guardrails(
        output={"mode": "block", "threshold": 0.5}, stream_policy="buffer", buffer_max_chars=300
    )
    guard = g.stream_guard(BENIGN)
    benign = "The weather is mild and the meeting covered the budget. " * 6
    decision = guard.feed(benign)
    assert decision is not None and decision.action == "allow" and not guard.holding
    for word in (HARMFUL_ANSWER * 3).split(" "):
        guard.feed(word + " ")
    assert guard.finish().action == "flag"  # bytes already left: flag, never a silent pass


def test_record_extra() -> None:
    d = GuardrailDecision("block", "input", "violence", 0.91234, "no")
    assert d.record_extra() == {
        "guardrail": {"stage": "input", "action": "block", "category": "violence", "score": 0.9123}
    }
    assert GuardrailDecision("allow", "output").record_extra() == {}


def test_blocked_responses_are_openai_shaped() -> None:
    c = blocked_completion("Nope.", model="m1", request_id="abc", created=7)
    assert c["object"] == "chat.completion" and c["id"] == "chatcmpl-abc" and c["created"] == 7
    (choice,) = c["choices"]
    assert choice["finish_reason"] == "content_filter"
    assert choice["message"] == {"role": "assistant", "content": "Nope."}
    first, last = blocked_chunks("Nope.", model="m1", request_id="abc")
    assert first["object"] == "chat.completion.chunk" and first["id"] == last["id"]
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": "Nope."}
    assert last["choices"][0]["finish_reason"] == "content_filter"
    t = blocked_text_completion("Nope.", model="m1")
    assert t["object"] == "text_completion" and t["choices"][0]["text"] == "Nope."


def test_openai_client_parses_the_blocked_response() -> None:
    openai = pytest.importorskip("openai")
    parsed = openai.types.chat.ChatCompletion.model_validate(blocked_completion(model="m"))
    assert parsed.choices[0].finish_reason == "content_filter"
    chunk = openai.types.chat.ChatCompletionChunk.model_validate(blocked_chunks(model="m")[1])
    assert chunk.choices[0].finish_reason == "content_filter"


def test_checks_are_fast() -> None:
    g = guardrails(input={"mode": "block"}, output={"mode": "block", "pii_leaks": True})
    answer = "Start with small steps and check each one before moving on. " * 20  # ~200 words
    g.check_input(BENIGN)
    g.check_output(answer, BENIGN)
    n = 200
    t0 = time.process_time()
    for _ in range(n):
        g.check_input(BENIGN)
    per_input = (time.process_time() - t0) / n
    t0 = time.process_time()
    for _ in range(n):
        g.check_output(answer, BENIGN)
    per_output = (time.process_time() - t0) / n
    # Typical cost is ~0.1 ms (input) and ~0.3 ms (200-word output); the bounds leave room
    # for a loaded CI machine.
    assert per_input < 0.002 and per_output < 0.005
