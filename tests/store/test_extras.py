"""Receipts, review items and ratings, and feedback, on both databases."""

from __future__ import annotations

from saferollout.store import InteractionRecord, Store


def test_receipt_is_found_only_for_its_hash_and_when_passed(store: Store) -> None:
    store.save_receipt("r", "cand", "h1", passed=False, data={"n": 1})
    assert store.latest_receipt("r", "cand", "h1") is None
    assert store.latest_receipt("r", "cand", "h1", passed_only=False)["data"] == {"n": 1}
    store.save_receipt("r", "cand", "h1", passed=True, data={"n": 2})
    store.save_receipt("r", "cand", "h2", passed=True, data={"n": 3})
    assert store.latest_receipt("r", "cand", "h1")["data"] == {"n": 2}
    assert store.latest_receipt("r", "other", "h1") is None


def test_review_items_are_idempotent_and_ratings_listed(store: Store) -> None:
    items = [{"item_id": f"i{k}", "prompt": f"p{k}"} for k in range(3)]
    assert store.add_review_items("set1", items) == 3
    assert store.add_review_items("set1", items[:2]) == 0
    assert [i["item_id"] for i in store.list_review_items("set1")] == ["i0", "i1", "i2"]
    store.add_review_rating("set1", "i1", "ann", {"choice": "left"})
    store.add_review_rating("set1", "i1", "bob", {"choice": "equal"})
    ratings = store.list_review_ratings("set1")
    assert [(r["reviewer"], r["choice"]) for r in ratings] == [("ann", "left"), ("bob", "equal")]
    assert store.list_review_ratings("other") == []


def test_feedback_counts_per_version(store: Store) -> None:
    store.insert_interactions(
        [
            InteractionRecord(
                request_id="req_a",
                created_at=1.0,
                version="cand",
                endpoint="chat.completions",
                status_code=200,
                latency_ms=1.0,
            )
        ]
    )
    assert store.interaction_version("req_a") == "cand"
    assert store.interaction_version("nope") is None
    store.add_feedback("req_a", "cand", kind="explicit", negative=True, data={"rating": "down"})
    store.add_feedback("req_a", "cand", kind="implicit", negative=False, data={})
    store.add_feedback("req_b", "stable", kind="explicit", negative=False, data={}, created_at=5.0)
    assert store.feedback_counts() == {"cand": (2, 1), "stable": (1, 0)}
    assert store.feedback_counts(kind="explicit") == {"cand": (1, 1), "stable": (1, 0)}
    assert store.feedback_counts(since=10.0) == {"cand": (2, 1)}
    rows = store.list_feedback(version="cand")
    assert {r["kind"] for r in rows} == {"explicit", "implicit"}
