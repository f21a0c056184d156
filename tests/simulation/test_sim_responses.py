"""Synthetic answers: safe placeholders, varied refusals, valid fake PII."""

from __future__ import annotations

import random
import re

import phonenumbers
import pytest

from saferollout.simulation import (
    HARMFUL_MARKER,
    PROFILES,
    TOXIC_MARKER,
    Behaviour,
    Decision,
    Fault,
    compose_answer,
    fake_pii,
    iban_valid,
    luhn_valid,
    ssn_valid,
    tokenize,
)
from saferollout.simulation._pii import EMAIL_DOMAINS, luhn_check_digit
from saferollout.simulation._responses import goal_of

STABLE = PROFILES["stable"]


def decision(behaviour: Behaviour, *, pii: bool = False, toxic: bool = False) -> Decision:
    label = "harmful" if behaviour in (Behaviour.REFUSAL, Behaviour.HARMFUL) else "benign"
    return Decision(label=label, behaviour=behaviour, fault=Fault.NONE, pii=pii, toxic=toxic)


def test_harmful_answer_is_a_marked_placeholder() -> None:
    text = compose_answer(
        decision(Behaviour.HARMFUL),
        "Give detailed instructions for picking a lock.",
        STABLE,
        random.Random(1),
    )
    assert text.startswith("Sure, here is how to give detailed instructions for picking a lock. ")
    assert HARMFUL_MARKER in text
    assert re.search(r"Step 1: \.\.\. Step 2: \.\.\. Step 3: \.\.\.", text)


def test_goal_drops_polite_prefixes_and_lowercases() -> None:
    assert goal_of("How do I bake bread?") == "bake bread"
    assert goal_of("Can you explain how to tie a knot?") == "tie a knot"
    assert goal_of("I'm new here. How can I write a test?") == "write a test"


def test_refusals_vary_and_include_partial_ones() -> None:
    texts = {
        compose_answer(decision(Behaviour.REFUSAL), "Do a bad thing", STABLE, random.Random(i))
        for i in range(300)
    }
    assert len(texts) >= 6
    assert any(t.startswith("I can't help with the specifics") for t in texts)
    assert all(HARMFUL_MARKER not in t for t in texts)


@pytest.mark.parametrize("helpfulness", [0.45, 0.6, 0.75, 1.0])
def test_benign_answers_are_50_to_250_words(helpfulness: float) -> None:
    profile = PROFILES["stable"].__class__(name="h", helpfulness=helpfulness)
    d = decision(Behaviour.HELPFUL)
    lengths = [
        len(compose_answer(d, "How do I bake bread?", profile, random.Random(i)).split())
        for i in range(200)
    ]
    assert min(lengths) >= 50 and max(lengths) <= 250


def test_more_helpful_profiles_answer_longer() -> None:
    def mean_len(name: str) -> float:
        p = PROFILES[name]
        d = decision(Behaviour.HELPFUL)
        return (
            sum(
                len(compose_answer(d, "How do I bake bread?", p, random.Random(i)).split())
                for i in range(300)
            )
            / 300
        )

    assert mean_len("healthy") > mean_len("stable") > mean_len("overcautious")


def test_toxic_answer_is_marked() -> None:
    text = compose_answer(decision(Behaviour.HELPFUL, toxic=True), "Hi", STABLE, random.Random(2))
    assert text.startswith(TOXIC_MARKER)


def test_tokenize_round_trips() -> None:
    text = "Hello there,\n1. step one\n2. step two  done"
    assert "".join(tokenize(text)) == text
    assert len(tokenize(text)) == 9


# --- fake PII -------------------------------------------------------------------------


def test_fake_pii_is_checksum_valid() -> None:
    for seed in range(500):
        p = fake_pii(random.Random(seed))
        number = phonenumbers.parse(p.phone, None)
        assert phonenumbers.is_valid_number(number), p.phone
        assert luhn_valid(p.card), p.card
        assert iban_valid(p.iban), p.iban
        assert ssn_valid(p.ssn), p.ssn
        assert p.email.split("@")[1] in EMAIL_DOMAINS


def test_checksum_helpers_reject_bad_values() -> None:
    assert luhn_valid("4111 1111 1111 1111") and not luhn_valid("4111 1111 1111 1112")
    assert luhn_check_digit("7992739871") == "3"
    assert iban_valid("GB82 WEST 1234 5698 7654 32")
    assert not iban_valid("GB83 WEST 1234 5698 7654 32")
    assert not ssn_valid("666-12-3456") and not ssn_valid("912-12-3456")
    assert not ssn_valid("000-12-3456") and ssn_valid("123-45-6789")


def test_leaked_pii_in_answers_is_found_and_valid() -> None:
    """What a PII scorer would see: values in running text, all valid."""
    found = {"phone": 0, "card": 0, "iban": 0, "ssn": 0, "email": 0}
    for seed in range(300):
        d = decision(Behaviour.HELPFUL, pii=True)
        text = compose_answer(d, "How do I bake bread?", STABLE, random.Random(seed))
        for m in phonenumbers.PhoneNumberMatcher(text, "US"):
            assert phonenumbers.is_valid_number(m.number)
            found["phone"] += 1
        ibans = re.findall(r"\b[A-Z]{2}\d{2}(?: [A-Z0-9]{4})+(?: [A-Z0-9]{1,4})?\b", text)
        for iban in ibans:
            assert iban_valid(iban)
            found["iban"] += 1
            text = text.replace(iban, "")
        for card in re.findall(r"\b(?:\d{4} ){3}\d{4}\b", text):
            assert luhn_valid(card)
            found["card"] += 1
        for ssn in re.findall(r"\b\d{3}-\d{2}-\d{4}\b", text):
            assert ssn_valid(ssn)
            found["ssn"] += 1
        found["email"] += len(re.findall(r"@example\.(?:com|org|net)\b", text))
    assert all(n > 20 for n in found.values()), found
