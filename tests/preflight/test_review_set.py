"""The blinded review set (sampling, order, top-up, real prompts) and the review gate."""

from __future__ import annotations

import time

import pytest

from saferollout.config import ReviewConfig, RolloutConfig
from saferollout.preflight._review import (
    ReviewPair,
    build_review_set,
    review_gate,
    review_set_id,
    sample_real_prompts,
)
from saferollout.store import InteractionRecord, Store

CATS = ("violence", "hate", "benign_help")


def pairs(n: int, prefix: str = "s") -> list[ReviewPair]:
    return [
        ReviewPair(
            ref=f"{prefix}{i}",
            messages=[{"role": "user", "content": f"prompt {prefix}{i}"}],
            candidate_text=f"candidate answer {i}",
            stable_text=f"stable answer {i}",
            category=CATS[i % len(CATS)],
        )
        for i in range(n)
    ]


def build(store: Store, set_id: str, cfg: ReviewConfig, suite=(), real=(), seed=None):
    return build_review_set(
        store, set_id, list(suite), list(real), cfg, seed, candidate="cand", stable="stab"
    )


def test_set_is_blinded_deterministic_and_stratified(tmp_path) -> None:
    cfg = ReviewConfig(enabled=True, suite_items=9, real_prompts=0, seed=7)
    s1, s2, s3 = (Store(f"sqlite:///{tmp_path / f'{i}.db'}") for i in range(3))
    try:
        one = build(s1, "r:cand:abc", cfg, pairs(30))
        two = build(s2, "r:cand:abc", cfg, list(reversed(pairs(30))))  # input order irrelevant
        other = build(s3, "r:cand:abc", cfg, pairs(30), seed=8)
    finally:
        for s in (s1, s2, s3):
            s.close()
    assert one.added == 9
    assert one.items == two.items
    assert [it["ref"] for it in other.items] != [it["ref"] for it in one.items]
    # Three per category: a small sample covers every category.
    cats = [it["category"] for it in one.items]
    assert {c: cats.count(c) for c in CATS} == dict.fromkeys(CATS, 3)
    orders = set()
    for it in one.items:
        i = it["ref"][1:]
        shown = {it["a"], it["b"]}
        assert shown == {f"candidate answer {i}", f"stable answer {i}"}
        cand_side = "a" if it["a"].startswith("candidate") else "b"
        assert it["versions"][cand_side] == "cand"
        orders.add(cand_side)
        # The id reveals nothing about the order: it digests set, source and ref only.
        assert it["item_id"].startswith("rv_") and "cand" not in it["item_id"]
    assert orders == {"a", "b"}  # both orders occur


def test_set_is_topped_up_never_regrown_and_skips_failed_answers(store: Store) -> None:
    cfg = ReviewConfig(enabled=True, suite_items=4, real_prompts=2)
    broken = ReviewPair("bad", [{"role": "user", "content": "x"}], "", "stable answer")
    first = build(store, "r:cand:1", cfg, [broken, *pairs(2)], pairs(1, "r"))
    assert first.added == 3
    assert "bad" not in {it["ref"] for it in first.items}
    again = build(store, "r:cand:1", cfg, [broken, *pairs(2)], pairs(1, "r"))
    assert again.added == 0 and again.items == first.items
    more = build(store, "r:cand:1", cfg, pairs(10), pairs(5, "r"))
    assert more.added == 3  # 2 suite + 1 real missing
    sources = [it["source"] for it in more.items]
    assert sources.count("suite") == 4 and sources.count("real") == 2
    assert {it["ref"] for it in first.items} <= {it["ref"] for it in more.items}
    assert build(store, "r:cand:1", cfg, pairs(20), pairs(9, "r")).added == 0


def _record(i: int, **kw) -> InteractionRecord:
    fields = {
        "request_id": f"req{i:03d}",
        "created_at": time.time() - 100 + i,
        "version": "stab",
        "endpoint": "chat.completions",
        "status_code": 200,
        "latency_ms": 5.0,
        "request_messages": [{"role": "user", "content": f"real question {i}"}],
        "response_text": "answer",
    }
    fields.update(kw)
    return InteractionRecord(**fields)


def test_real_prompts_come_from_answered_client_traffic(store: Store) -> None:
    records = [_record(i) for i in range(6)]
    records += [
        _record(10, shadow=True, request_messages=[{"role": "user", "content": "mirrored"}]),
        _record(11, error_kind="timeout", status_code=504),
        _record(12, request_messages=None),  # logging.redact: drop
        _record(13, endpoint="embeddings"),
        _record(14, request_messages=[{"role": "user", "content": "real question 0"}]),  # dup
        _record(
            15,
            request_messages=[
                {"role": "user", "content": [{"type": "text", "text": "parts question"}]}
            ],
        ),
    ]
    store.insert_interactions(records)
    cfg = ReviewConfig(enabled=True, suite_items=0, real_prompts=50, seed=3)
    got = sample_real_prompts(store, "r:cand:1", cfg)
    texts = sorted(p.messages[0]["content"] for p in got)
    assert texts == sorted([f"real question {i}" for i in range(6)] + ["parts question"])
    assert sample_real_prompts(store, "r:cand:1", cfg) == got  # deterministic
    small = ReviewConfig(enabled=True, suite_items=0, real_prompts=3, seed=3)
    picked = sample_real_prompts(store, "r:cand:1", small)
    assert len(picked) == 3
    answered = [
        ReviewPair(p.ref, p.messages, f"cand to {p.ref}", f"stab to {p.ref}") for p in picked
    ]
    build(store, "r:cand:1", small, (), answered)
    assert sample_real_prompts(store, "r:cand:1", small) == []  # the set has its three


def test_set_id_names_rollout_candidate_and_config_hash() -> None:
    base = {
        "name": "shop",
        "versions": {
            "v1": {"url": "http://a/v1", "model": "m"},
            "v2": {"url": "http://b/v1", "model": "m"},
        },
        "stable": "v1",
        "candidate": "v2",
    }
    sid = review_set_id(RolloutConfig.model_validate(base))
    assert sid.startswith("shop:v2:") and len(sid) == len("shop:v2:") + 12
    changed = {**base, "versions": {**base["versions"], "v2": {"url": "http://b/v1", "model": "n"}}}
    assert review_set_id(RolloutConfig.model_validate(changed)) != sid
    long = {**base, "name": "n" * 100}
    assert len(review_set_id(RolloutConfig.model_validate(long))) <= 64


# -- the gate ---------------------------------------------------------------------


def rate(store: Store, set_id: str, outcomes: list[tuple[str, bool]], who: str = "ann") -> None:
    """Rate items in order: outcome win|tie|loss on `safer`, and harm in the candidate."""
    items = store.list_review_items(set_id)
    for it, (outcome, harm) in zip(items, outcomes, strict=False):
        cand = "a" if it["versions"]["a"] == "cand" else "b"
        stab = "b" if cand == "a" else "a"
        choice = {"win": cand, "tie": "equal", "loss": stab}[outcome]
        rating = {"safer": choice, "better": "equal", "harm_a": None, "harm_b": None}
        if harm:
            rating[f"harm_{cand}"] = "violence"
        store.add_review_rating(set_id, it["item_id"], who, rating)


def test_gate_needs_min_ratings_then_judges_win_tie_and_harm(store: Store) -> None:
    cfg = ReviewConfig(
        enabled=True,
        suite_items=10,
        real_prompts=0,
        min_ratings=10,
        min_win_tie_rate=0.8,
        max_harm_rate=0.1,
    )
    build(store, "g:cand:1", cfg, pairs(10))
    empty = review_gate(store, "g:cand:1", cfg)
    assert not empty.passed and "0 ratings, needs 10" in empty.message
    rate(store, "g:cand:1", [("win", False)] * 5 + [("tie", False)] * 3)
    short = review_gate(store, "g:cand:1", cfg)
    assert not short.passed and "8 ratings, needs 10" in short.message
    rate(store, "g:cand:1", [("win", False)] * 8 + [("loss", False)] * 2, who="bob")
    ok = review_gate(store, "g:cand:1", cfg)
    assert ok.passed, ok.message
    assert ok.stats.ratings == 18 and ok.stats.candidates["cand"].safer.win_or_tie.count == 16
    # Stricter: the Wilson lower bound of 16/18 (~0.67) is below 0.8.
    strict = review_gate(store, "g:cand:1", cfg.model_copy(update={"judge_on": "bound"}))
    assert not strict.passed and "lower bound >= 80.0%" in strict.message


def test_gate_fails_on_a_low_win_tie_rate(store: Store) -> None:
    cfg = ReviewConfig(enabled=True, suite_items=10, real_prompts=0, min_win_tie_rate=0.7)
    build(store, "g:cand:2", cfg, pairs(10))
    rate(store, "g:cand:2", [("win", False)] * 3 + [("tie", False)] * 3 + [("loss", False)] * 4)
    result = review_gate(store, "g:cand:2", cfg)
    assert not result.passed
    assert "cand safer or equal to stable in 60.0%" in result.message
    assert review_gate(store, "g:cand:2", cfg.model_copy(update={"min_win_tie_rate": 0.6})).passed


def test_gate_fails_on_harm_flags_and_names_the_category(store: Store) -> None:
    cfg = ReviewConfig(enabled=True, suite_items=10, real_prompts=0, max_harm_rate=0.1)
    build(store, "g:cand:3", cfg, pairs(10))
    rate(store, "g:cand:3", [("win", True)] * 2 + [("win", False)] * 8)
    result = review_gate(store, "g:cand:3", cfg)
    assert not result.passed
    assert "harm flagged in 20.0%" in result.message and "violence 2" in result.message
    assert review_gate(store, "g:cand:3", cfg.model_copy(update={"max_harm_rate": 0.2})).passed


def test_gate_with_thresholds_but_no_ratings_fails_and_disabled_passes(store: Store) -> None:
    cfg = ReviewConfig(enabled=True, suite_items=3, real_prompts=0, max_harm_rate=0.5)
    build(store, "g:cand:4", cfg, pairs(3))
    result = review_gate(store, "g:cand:4", cfg)
    assert not result.passed and "no ratings yet" in result.message
    off = review_gate(store, "g:cand:4", cfg.model_copy(update={"enabled": False}))
    assert off.passed and "not enabled" in off.message
    assert not review_gate(store, "nothing:here:0", ReviewConfig(enabled=True)).passed


def test_review_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="min_win_tie_rate"):
        ReviewConfig(min_win_tie_rate=1.5)
    with pytest.raises(ValueError, match="reserved"):
        ReviewConfig(harm_categories=["none", "x"])
    with pytest.raises(ValueError, match="distinct"):
        ReviewConfig(harm_categories=["x", "x"])
    with pytest.raises(ValueError, match="extra"):
        ReviewConfig(min_rating=3)
