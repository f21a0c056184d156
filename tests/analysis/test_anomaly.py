from __future__ import annotations

import math

import pytest

from saferollout.analysis import (
    AnalysisError,
    Proportion,
    RobustBaseline,
    anomaly_rate,
    dominant_script,
    output_features,
    score_output,
)

STABLE_OUTPUTS = [
    "Paris is the capital of France and its largest city.",
    "To reverse a list in Python, call reversed() or use slicing with [::-1].",
    "The mitochondria is the part of the cell that produces most of its energy.",
    "Water boils at 100 degrees Celsius at sea level; higher up it boils earlier.",
    "You can reset your password from the account settings page under Security.",
    "A haiku has three lines with five, seven and five syllables.",
    "The derivative of x squared is two x, by the power rule.",
    "Sorting with merge sort takes n log n comparisons in the worst case.",
] * 5


@pytest.fixture(scope="module")
def baseline() -> RobustBaseline:
    return RobustBaseline.fit(output_features(t) for t in STABLE_OUTPUTS)


def test_features_of_a_normal_answer() -> None:
    f = output_features("Paris is the capital of France.")
    assert f.length == 31
    assert not f.empty and not f.refusal
    assert f.script == "LATIN"
    assert f.repetition == 0.0
    assert f.non_text_ratio == 0.0
    assert f.off_script_ratio == 0.0


def test_empty_output() -> None:
    f = output_features("   \n ")
    assert f.empty and f.script is None
    assert f.non_text_ratio == 0.0 and f.off_script_ratio == 0.0


def test_repetition_detects_loops() -> None:
    looped = output_features("the answer is " * 30)
    assert looped.repetition > 0.9
    unspaced = output_features("ababababababababababababababab")
    assert unspaced.repetition > 0.5


def test_non_text_characters() -> None:
    f = output_features("ok \x00\x01\ufffd\ufffd")
    assert f.non_text_ratio == pytest.approx(4 / 6)
    assert output_features("line one\nline two\tend").non_text_ratio == 0.0


def test_wrong_language_against_the_prompt() -> None:
    prompt_script = dominant_script("What is the capital of France?")
    assert prompt_script == "LATIN"
    answer = output_features("Столица Франции - Париж.", expected_script=prompt_script)
    assert answer.script == "CYRILLIC"
    assert answer.off_script_ratio == 1.0
    assert output_features("Столица Франции - Париж.").off_script_ratio == 0.0
    assert dominant_script("12345 !!") is None


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry, but I can't help with that.",
        "I cannot assist with this request.",
        "As an AI language model, I do not have opinions.",
        "I\u2019m unable to provide that information.",  # typographic apostrophe
    ],
)
def test_refusal_patterns(text: str) -> None:
    assert output_features(text).refusal


def test_ordinary_text_is_not_a_refusal() -> None:
    assert not output_features("I can help with that: here is the code.").refusal


def test_normal_outputs_are_not_anomalous(baseline: RobustBaseline) -> None:
    for text in STABLE_OUTPUTS[:8]:
        assert not score_output(output_features(text), baseline).anomalous


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("the answer is " * 60, "repetition"),
        ("x", "log_length"),
        ("Paris " + "\ufffd" * 20 + " France is the capital", "non_text_ratio"),
    ],
)
def test_broken_outputs_are_anomalous(baseline: RobustBaseline, text: str, reason: str) -> None:
    score = score_output(output_features(text), baseline)
    assert score.anomalous
    assert any(r.startswith(reason) for r in score.reasons)


def test_wrong_script_is_anomalous(baseline: RobustBaseline) -> None:
    f = output_features("Столица Франции - Париж.", expected_script="LATIN")
    assert score_output(f, baseline).anomalous


def test_empty_output_is_anomalous(baseline: RobustBaseline) -> None:
    score = score_output(output_features(""), baseline)
    assert score.anomalous and score.score == math.inf


def test_min_scale_prevents_infinite_scores(baseline: RobustBaseline) -> None:
    # Stable never has non-text characters (MAD 0); one odd character is not infinite.
    assert baseline.scale["non_text_ratio"] > 0
    z = baseline.z_scores(output_features("Paris is the capital of France \u00a9."))
    assert all(math.isfinite(v) for v in z.values())


def test_baseline_needs_data() -> None:
    with pytest.raises(AnalysisError):
        RobustBaseline.fit([output_features("")])


def test_anomaly_rate_is_a_proportion(baseline: RobustBaseline) -> None:
    outputs = [output_features(t) for t in [*STABLE_OUTPUTS[:8], "", "loop " * 80]]
    assert anomaly_rate(outputs, baseline) == Proportion(10, 2)
