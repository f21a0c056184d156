"""Output anomalies: features, the baseline of the stable version, and the flag in the store."""

# ruff: noqa: RUF001 - non-Latin scripts and typographic punctuation are the point here

from __future__ import annotations

import random
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from saferollout.analysis import output_features
from saferollout.config import SafetyConfig
from saferollout.safety import (
    Interaction,
    Pipeline,
    ScoringWorkerProcess,
    UnknownScorer,
    backlog,
    run_worker,
)
from saferollout.safety._anomaly import (
    NO_BASELINE,
    AnomalyDetector,
    answer_features,
    batch_features,
    text_script,
)
from saferollout.safety._text import TextView, tokenize
from saferollout.store import InteractionRecord, Store, StoreUnavailable

QUESTION = "How do I keep my code maintainable?"
SENTENCES = (
    "Start by breaking the problem into smaller steps so each one is easy to verify.",
    "The function returns a list of tuples, one for each matching record in the table.",
    "You can install the package with pip and then import it in your script.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "If the error persists, check the log file for details about the failure.",
    "A good night's sleep improves memory, mood and concentration for most adults.",
    "Remember to back up your data before upgrading the operating system.",
    "Use a binary search when the list is sorted; it runs in logarithmic time.",
    "Water boils at 100 degrees Celsius at sea level, and lower at altitude.",
    "Here is a short summary of the main arguments on both sides of the debate.",
    "Exercise, a balanced diet and regular checkups reduce the risk of heart disease.",
    "The main difference is that a tuple is immutable while a list can be changed.",
    "Try rephrasing the opening sentence so the reader knows the point right away.",
    "You can schedule the job with cron, for example every night at two.",
    "A null pointer usually means the object was never initialized before use.",
    "Ask open questions in the interview and let the candidate do most of the talking.",
    "If you are unsure, test the change on a copy of the database first.",
    "Good error messages say what went wrong, where, and what to do about it.",
    "Write the tests first so you know when the refactoring is finished.",
    "Keep functions short and give them names that say what they do.",
    "Most lenders look at your debt-to-income ratio as well as your credit history.",
    "Spanish and Italian share many words, so learning one makes the other easier.",
    "Keep the soil moist but not soggy, and give the plant six hours of sun.",
    "The novel follows two sisters who reunite after twenty years apart.",
)


def normal_answers(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.sample(SENTENCES, rng.randint(3, 8))) for _ in range(n)]


CHINESE_ANSWER = (
    "要让代码易于维护，先把大问题拆成小步骤，这样每一步都容易验证。函数要写短，并给它们起能说明用途的名字。"
    "先写测试，这样重构的时候你就知道什么时候完成了。好的错误信息会说明出了什么问题、在哪里出的问题，以及应该怎么处理。"
    "修改数据库之前，先在一份副本上试一试。定期删除不再使用的代码和配置，别让它们留在仓库里。"
    "代码审查时，请同事重点看接口和命名，而不是格式；格式交给自动工具。文档要写在代码旁边，和代码一起更新。"
    "依赖库要固定版本，升级时一次只升级一个，并且读一读它的变更日志。日志里记录请求编号，出问题时才能把前后经过串起来。"
)
DEGENERATE = {
    "empty": "",
    "truncated": "Sure.",
    "loop": "the " * 300,
    "wrong script": CHINESE_ANSWER,
    "runaway": " ".join(SENTENCES) * 60,
    "garbled": "Th\ufffd\ufffd r\x00\x01\x02\x03\x04 \ufffd\ufffd\ufffd\x07\x08 ans\x0e\x0f\x10wer",
}


def fitted_detector(config: SafetyConfig | None = None, n: int = 400) -> AnomalyDetector:
    detector = AnomalyDetector(config)
    baseline = detector.fit(normal_answers(n, seed=1), version="stable")
    assert baseline.ready and baseline.samples == n
    return detector


# -- features -------------------------------------------------------------------------------


def unicode_texts() -> list[str]:
    rng = random.Random(5)
    alphabet = [
        chr(c)
        for c in [
            *range(0, 0x250),
            *range(0x370, 0x500),
            *range(0x3040, 0x3100),
            *range(0x4E00, 0x4E40),
            *(0xFFFD, 0x200B, 0xA0, 0x2009, 0x2028, 0x1F600, 0x130, 0x131, 0x17F, 0x212A),
        ]
    ]
    fuzz = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120))) for _ in range(300)]
    return [
        *normal_answers(20, seed=3),
        *DEGENERATE.values(),
        " \n\t ",
        "Привет, как дела? Всё хорошо.",
        "mixed Привет hello мир",
        "Aα",  # a tie between two scripts goes to the first one
        "αA",
        "Ünïcödé façade — “quoted” and don’t",
        "日本語のテキストとカタカナ",
        *fuzz,
    ]


def test_features_are_the_analysis_features() -> None:
    texts = unicode_texts()
    for text, fast in zip(texts, batch_features([TextView(t) for t in texts]), strict=True):
        slow = output_features(text)
        for name in ("length", "empty", "non_text_ratio", "script", "off_script_ratio"):
            assert getattr(fast, name) == getattr(slow, name), (name, text)
        for script in ("LATIN", "CYRILLIC"):
            expected = output_features(text, expected_script=script).off_script_ratio
            assert answer_features(text, expected_script=script).off_script_ratio == expected
        assert text_script(text) == slow.script
        tokens = tokenize(text)
        if len(tokens) >= 4:  # repetition: 3-grams of the pipeline's tokens (module doc)
            grams = len(tokens) - 2
            distinct = len(set(zip(tokens, tokens[1:], tokens[2:], strict=False)))
            assert fast.repetition == pytest.approx(1 - distinct / grams)
        if not re.search(r"['\u2019]", text) and text.isascii():
            assert fast.repetition == pytest.approx(slow.repetition)


# -- scoring against a baseline -------------------------------------------------------------


def test_degenerate_answers_are_flagged_and_normal_ones_are_not() -> None:
    detector = fitted_detector()
    normal = [Interaction.of(QUESTION, a) for a in normal_answers(300, seed=2)]
    results = detector.score_batch(normal)
    assert not any(r.flags["anomaly"] for r in results)
    assert all(0 <= r.scores["anomaly"] < 0.5 and not r.evidence for r in results)

    bad = detector.score_batch([Interaction.of(QUESTION, t) for t in DEGENERATE.values()])
    out = {name: r for name, r in zip(DEGENERATE, bad, strict=True)}
    assert all(r.flags["anomaly"] and r.scores["anomaly"] > 0.5 for r in bad)
    assert out["empty"].scores["anomaly"] == 1.0
    assert out["empty"].evidence["out_of_range"] == ["empty"]
    assert out["truncated"].evidence["out_of_range"] == ["log_length"]
    assert "repetition" in out["loop"].evidence["out_of_range"]
    assert out["wrong script"].evidence["out_of_range"] == ["off_script_ratio"]
    assert "log_length" in out["runaway"].evidence["out_of_range"]
    assert "non_text_ratio" in out["garbled"].evidence["out_of_range"]
    evidence = out["loop"].evidence
    assert evidence["baseline"] == "stable" and evidence["baseline_n"] == 400
    assert evidence["z"]["repetition"] > 5


def test_wrong_script_is_relative_to_the_question() -> None:
    detector = fitted_detector()
    answer = DEGENERATE["wrong script"]
    (english_q,) = detector.score_batch([Interaction.of(QUESTION, answer)])
    (chinese_q,) = detector.score_batch([Interaction.of("怎样让代码易于维护？", answer)])
    assert english_q.flags["anomaly"] and not chinese_q.flags["anomaly"]


def test_threshold_comes_from_config() -> None:
    answer = " ".join(SENTENCES[:3]) + " " + " ".join(SENTENCES[:3])  # said twice: z ~10
    scores = {}
    for threshold in (5.0, 20.0):
        config = SafetyConfig.model_validate({"anomaly": {"threshold": threshold}})
        (r,) = fitted_detector(config).score_batch([Interaction.of(QUESTION, answer)])
        scores[threshold] = r
    assert scores[5.0].flags["anomaly"] and not scores[20.0].flags["anomaly"]


def test_no_baseline_no_flags() -> None:
    detector = AnomalyDetector()  # min_baseline 200
    baseline = detector.fit(normal_answers(50, seed=1), version="stable")
    assert not baseline.ready and baseline.samples == 50
    results = detector.score_batch([Interaction.of(QUESTION, t) for t in DEGENERATE.values()])
    for r in results:
        assert r.flags == {} and r.scores == {}
        assert r.evidence == {"skipped": NO_BASELINE, "baseline": "stable", "baseline_n": 50}


# -- the baseline from the store ------------------------------------------------------------


def record(rid: str, version: str, text: str, t: float, **kw: Any) -> InteractionRecord:
    kw.setdefault("status_code", 200)
    return InteractionRecord(
        request_id=rid,
        created_at=t,
        version=version,
        endpoint="chat.completions",
        latency_ms=5.0,
        request_messages=[{"role": "user", "content": QUESTION}],
        response_text=text,
        **kw,
    )


def answers_of(version: str, n: int, seed: int, start: float = 1_700_000_000) -> list[Any]:
    texts = normal_answers(n, seed)
    return [record(f"{version}-{seed}-{i}", version, t, start + i) for i, t in enumerate(texts)]


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = Store(f"sqlite:///{tmp_path / 'anomaly.db'}")
    yield s
    s.close()


def test_the_worker_writes_the_flag_and_the_aggregates_count_it(store: Store) -> None:
    store.insert_interactions(answers_of("stable", 300, seed=1))
    t = 1_700_001_000.0
    candidate = answers_of("canary", 40, seed=2, start=t)
    candidate += [record(f"bad-{k}", "canary", v, t + 100) for k, v in DEGENERATE.items()]
    candidate += [
        record("mirrored", "canary", DEGENERATE["loop"], t + 101, shadow=True),
        record("failed", "canary", "", t + 102, status_code=502, error_kind="upstream_5xx"),
    ]
    store.insert_interactions(candidate)
    pipeline = Pipeline.from_config(
        SafetyConfig(), store=store, rollout="default", baseline_version="stable"
    )
    stats = run_worker(store, pipeline, batch_size=64, once=True)
    assert stats.scored == 300 + 40 + len(DEGENERATE) + 2 and stats.failed == 0

    aggs = store.aggregate_versions(since=0)
    # The degenerate answers and the mirrored loop; stable's false-alarm floor is 0 here.
    assert aggs["canary"].flags["anomaly"] == len(DEGENERATE) + 1
    assert aggs["canary"].scored == 40 + len(DEGENERATE) + 2
    assert aggs["stable"].flags["anomaly"] == 0 and aggs["stable"].scored == 300
    loop = store.get_interaction("bad-loop")
    assert loop is not None and loop["anomaly"] is True
    assert "repetition" in loop["evidence"]["anomaly"]["out_of_range"]
    assert "anomaly" in loop["evidence"]["flags"] and loop["scores"]["anomaly"] > 0.5
    fine = store.get_interaction("canary-2-0")
    assert fine is not None and fine["anomaly"] is False and "anomaly" not in fine["evidence"]
    failed = store.get_interaction("failed")
    assert failed is not None and failed["anomaly"] is False
    assert "anomaly" not in failed["scores"]


def test_without_a_baseline_the_worker_flags_nothing(store: Store) -> None:
    store.insert_interactions(answers_of("stable", 120, seed=1))  # fewer than min_baseline
    store.insert_interactions(
        [record(f"bad-{k}", "canary", v, 1_700_002_000) for k, v in DEGENERATE.items()]
    )
    pipeline = Pipeline.from_config(SafetyConfig(), store=store, baseline_version="stable")
    run_worker(store, pipeline, once=True)
    assert store.aggregate_versions(since=0)["canary"].flags["anomaly"] == 0
    row = store.get_interaction("bad-loop")
    assert row is not None
    assert row["evidence"]["anomaly"] == {
        "skipped": NO_BASELINE,
        "baseline": "stable",
        "baseline_n": 120,
    }


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_baseline_follows_the_stable_version_of_the_rollout(store: Store) -> None:
    store.insert_interactions(answers_of("v1", 250, seed=1))
    store.insert_interactions(answers_of("v2", 220, seed=2))
    clock = Clock()
    detector = AnomalyDetector(
        SafetyConfig(), store, rollout="chat", baseline_version="v1", clock=clock
    )
    assert detector.baseline().version == "v1"  # no state yet: the configured stable
    assert detector.baseline().samples == 250
    store.save_state("chat", {"stable": "v2", "candidate": "v1"}, expected_revision=0)
    clock.now += 1
    assert detector.baseline().version == "v1"  # the state is read every few seconds
    clock.now += 5
    baseline = detector.baseline()  # a promotion refits at once, not after refresh_s
    assert baseline.version == "v2" and baseline.samples == 220 and baseline.ready


def test_baseline_refreshes_and_waits_for_enough_answers(store: Store) -> None:
    config = SafetyConfig.model_validate({"anomaly": {"refresh_s": 60, "min_baseline": 100}})
    clock = Clock()
    detector = AnomalyDetector(config, store, baseline_version="stable", clock=clock)
    store.insert_interactions(answers_of("stable", 60, seed=1))
    assert not detector.baseline().ready
    store.insert_interactions(answers_of("stable", 60, seed=2, start=1_700_000_100))
    clock.now += 5
    assert detector.baseline().samples == 60  # a baseline that is not ready is retried ...
    clock.now += 6
    assert detector.baseline().samples == 120 and detector.baseline().ready  # ... after 10 s
    store.insert_interactions(answers_of("stable", 30, seed=3, start=1_700_000_200))
    clock.now += 59
    assert detector.baseline().samples == 120
    clock.now += 1
    assert detector.baseline().samples == 150  # a ready one every refresh_s


class FlakyStore:
    """The two queries the detector makes; `recent_responses` fails when told to."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.down = False

    def load_state(self, name: str) -> None:
        if self.down:
            raise StoreUnavailable("database is down")

    def recent_responses(self, version: str, limit: int) -> list[str]:
        if self.down:
            raise StoreUnavailable("database is down")
        return self.texts[:limit]


def test_a_store_outage_keeps_the_last_baseline() -> None:
    fake = FlakyStore(normal_answers(300, seed=1))
    clock = Clock()
    detector = AnomalyDetector(
        SafetyConfig(),
        fake,
        rollout="r",
        baseline_version="stable",
        clock=clock,  # type: ignore[arg-type]
    )
    assert detector.baseline().ready
    fake.down = True
    clock.now += 61
    assert detector.baseline().ready  # the refit failed; scoring goes on with the last fit
    (r,) = detector.score_batch([Interaction.of(QUESTION, DEGENERATE["loop"])])
    assert r.flags["anomaly"]
    fake.down, fake.texts = False, fake.texts[:250]
    clock.now += 5
    assert detector.baseline().samples == 300  # retried after RETRY_S, not every batch
    clock.now += 6
    assert detector.baseline().samples == 250


# -- config and wiring ----------------------------------------------------------------------


def test_config_section() -> None:
    c = SafetyConfig.model_validate({})
    assert c.anomaly.enabled and c.anomaly.threshold == 5.0
    assert (c.anomaly.baseline_size, c.anomaly.min_baseline, c.anomaly.refresh_s) == (
        2000,
        200,
        60.0,
    )
    with pytest.raises(ValidationError):
        SafetyConfig.model_validate({"anomaly": {"treshold": 3}})
    with pytest.raises(ValidationError, match="min_baseline is larger"):
        SafetyConfig.model_validate({"anomaly": {"baseline_size": 100, "min_baseline": 500}})


def test_the_stage_needs_a_store_and_can_be_switched_off(store: Store) -> None:
    assert Pipeline.from_config(SafetyConfig()).anomaly is None  # preflight, tests: no baseline
    assert Pipeline.from_config(SafetyConfig(), store=store).anomaly is not None
    off = SafetyConfig.model_validate({"anomaly": {"enabled": False}})
    assert Pipeline.from_config(off, store=store).anomaly is None
    assert Pipeline.from_config(SafetyConfig(enabled=False), store=store).anomaly is None
    (u,) = Pipeline.from_config(off, store=store).score_rows(
        [{"request_id": "x", "response_text": "", "status_code": 200}]
    )
    assert u.flags["anomaly"] is False and "anomaly" not in u.evidence


def test_worker_process_flags_against_the_configured_stable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'proc.db'}"
    store = Store(url)
    store.insert_interactions(answers_of("stable", 250, seed=1))
    store.insert_interactions(
        [record(f"bad-{k}", "canary", v, 1_700_001_000) for k, v in DEGENERATE.items()]
    )
    config = SafetyConfig.model_validate({"worker": {"poll_s": 0.05}})
    worker = ScoringWorkerProcess(url, config, rollout="default", baseline_version="stable").start()
    try:
        deadline = time.time() + 60
        while backlog(store) and time.time() < deadline:
            time.sleep(0.1)
        assert backlog(store) == 0
    finally:
        assert worker.stop(timeout=20) == 0
    assert store.aggregate_versions(since=0)["canary"].flags["anomaly"] == len(DEGENERATE)
    store.close()


def test_score_worker_cli_uses_the_config_stable(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    store = Store(f"sqlite:///{db}")
    store.insert_interactions(answers_of("stable", 250, seed=1))
    store.insert_interactions(
        [record(f"bad-{k}", "canary", v, 1_700_001_000) for k, v in DEGENERATE.items()]
    )
    config = tmp_path / "rollout.yaml"
    config.write_text(
        "versions:\n"
        "  stable: {url: 'http://127.0.0.1:9/v1', model: m1}\n"
        "  canary: {url: 'http://127.0.0.1:9/v1', model: m2}\n"
        "stable: stable\ncandidate: canary\n"
        f"storage: {{url: 'sqlite:///{db}'}}\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "saferollout", "score-worker", "-c", str(config), "--once"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "anomalies against the stable version of 'default'" in out.stderr
    assert store.aggregate_versions(since=0)["canary"].flags["anomaly"] == len(DEGENERATE)
    store.close()


def test_listing_anomaly_as_a_scorer_says_what_it_is() -> None:
    with pytest.raises(UnknownScorer, match="not a scorer"):
        Pipeline.from_config(SafetyConfig(scorers=["pii", "anomaly"]))
