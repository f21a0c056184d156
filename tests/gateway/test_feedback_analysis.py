"""negative_feedback_rate: stored feedback judged like the other rates."""

from __future__ import annotations

from saferollout.config import default_triggers
from saferollout.rollout import Decision, Status, TriggerJudge
from saferollout.rollout._metrics import rate_counts
from saferollout.store import InteractionRecord, Store


def seed(store: Store, version: str, n: int, negative: int, *, at: float) -> None:
    store.insert_interactions(
        [
            InteractionRecord(
                request_id=f"{version}-{i}",
                created_at=at,
                version=version,
                endpoint="chat.completions",
                status_code=200,
                latency_ms=100.0,
            )
            for i in range(n)
        ]
    )
    for i in range(n):
        store.add_feedback(
            f"{version}-{i}",
            version,
            kind="explicit",
            negative=i < negative,
            data={"rating": "down" if i < negative else "up"},
            created_at=at + 1,
        )


def test_a_candidate_users_dislike_fails_the_feedback_trigger(store: Store) -> None:
    seed(store, "stable", 300, 30, at=1000.0)  # 10% negative
    seed(store, "canary", 300, 120, at=1000.0)  # 40% negative
    aggs = store.aggregate_versions(since=0.0)
    assert rate_counts("negative_feedback_rate", aggs["canary"]).rate == 0.4
    assert rate_counts("negative_feedback_rate", aggs["stable"]).rate == 0.1
    assert aggs["canary"].requests == 300  # the store's aggregate is kept whole
    judgement = TriggerJudge(default_triggers())(
        aggs,
        stable="stable",
        candidate="canary",
        weights={"canary": 50.0},
        elapsed_s=600,
        fail_streaks={},
    )
    verdict = next(v for v in judgement.verdicts if v.metric == "negative_feedback_rate")
    assert verdict.status is Status.FAIL and verdict.action == "alert"
    assert verdict.candidate == 0.4 and verdict.stable == 0.1
    # Alert only: users' feedback alone never rolls a version back.
    assert judgement.decision is not Decision.ROLLBACK


def test_feedback_window_has_an_end(store: Store) -> None:
    seed(store, "canary", 10, 4, at=1000.0)  # feedback at 1001
    seed(store, "stable", 10, 1, at=2000.0)  # feedback at 2001
    store.add_feedback(
        "canary-0", "canary", kind="implicit", negative=True, data={}, created_at=3000
    )
    early = store.aggregate_versions(since=0.0, until=1500.0)
    assert rate_counts("negative_feedback_rate", early["canary"]) == rate_counts(
        "negative_feedback_rate", store.aggregate_versions(since=0.0, until=2500.0)["canary"]
    )
    assert (early["canary"].feedback, early["canary"].negative_feedback) == (10, 4)
    assert "stable" not in early
    late = store.aggregate_versions(since=0.0)
    assert (late["canary"].feedback, late["canary"].negative_feedback) == (11, 5)
