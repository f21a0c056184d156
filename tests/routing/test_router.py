from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saferollout.routing import BUCKETS, Router, RoutingTable, bucket_of, hash_key, sticky_key


def router(weight: float, salt: str = "salt") -> Router:
    return Router(
        RoutingTable.from_weights("stable", {"canary": weight}),
        salt=salt,
        versions=["stable", "canary"],
    )


KEYS = [f"user-{i}" for i in range(100_000)]


def test_share_matches_weight_over_100k_keys() -> None:
    for weight in (1, 5, 25, 50):
        r = router(weight)
        share = sum(r.assign(k) == "canary" for k in KEYS) / len(KEYS)
        # Binomial sd at 50% over 1e5 keys is 0.16 points; allow 4 sd.
        assert abs(share * 100 - weight) < 0.65, (weight, share)


def test_ramp_is_monotone() -> None:
    previous: set[str] = set()
    for weight in (0, 1, 5, 25, 50, 100):
        r = router(weight)
        on_canary = {k for k in KEYS[:20_000] if r.assign(k) == "canary"}
        assert previous <= on_canary, f"a key left the candidate when the weight rose to {weight}"
        previous = on_canary
    assert len(previous) == 20_000


def test_weight_zero_sends_everyone_to_stable() -> None:
    r = router(0)
    assert {r.assign(k) for k in KEYS[:5000]} == {"stable"}
    assert {r.assign(None) for _ in range(1000)} == {"stable"}


def test_sticky_across_requests_and_router_instances() -> None:
    a, b = router(30), router(30)
    for k in KEYS[:2000]:
        assert a.assign(k) == a.assign(k) == b.assign(k)


def test_salt_reshuffles() -> None:
    a, b = router(50, "one"), router(50, "two")
    same = sum(a.assign(k) == b.assign(k) for k in KEYS[:10_000]) / 10_000
    assert 0.45 < same < 0.55


def test_no_key_assigns_randomly_by_weight() -> None:
    r = router(20)
    share = sum(r.assign(None) == "canary" for _ in range(20_000)) / 20_000
    assert abs(share - 0.2) < 0.02


def test_multi_arm_table() -> None:
    table = RoutingTable.from_weights("stable", {"a": 20, "b": 30})
    assert table.weights() == {"a": 20.0, "b": 30.0, "stable": 50.0}
    r = Router(table, salt="s", versions=["stable", "a", "b"])
    counts = {"a": 0, "b": 0, "stable": 0}
    for k in KEYS[:20_000]:
        counts[r.assign(k)] += 1
    assert abs(counts["a"] / 20_000 - 0.2) < 0.02
    assert abs(counts["b"] / 20_000 - 0.3) < 0.02


def test_bad_tables_are_refused() -> None:
    with pytest.raises(ValueError, match="more than 100%"):
        RoutingTable.from_weights("stable", {"a": 60, "b": 50})
    with pytest.raises(ValueError, match=r"within 0\.\.100"):
        RoutingTable.from_weights("stable", {"a": -1})
    r = router(5)
    with pytest.raises(ValueError, match="unknown versions"):
        r.set_table(RoutingTable.from_weights("stable", {"other": 5}))
    assert r.table.weights()["canary"] == 5


@given(st.text(min_size=1, max_size=50), st.binary(min_size=1, max_size=32))
def test_bucket_in_range(key: str, salt: bytes) -> None:
    assert 0 <= bucket_of(salt, key) < BUCKETS


def test_sticky_key_sources_in_order() -> None:
    sources = [("header", "X-Session-Id"), ("header", "X-User-Id"), ("body", "user")]
    assert sticky_key(sources, {"X-Session-Id": "s", "X-User-Id": "u"}, {"user": "b"}) == "s"
    assert sticky_key(sources, {"X-User-Id": "u"}, {"user": "b"}) == "u"
    assert sticky_key(sources, {}, {"user": "b"}) == "b"
    assert sticky_key(sources, {}, {"user": 12}) is None
    assert sticky_key(sources, {"X-Session-Id": ""}, {}) is None


def test_hash_key_hides_the_key() -> None:
    assert hash_key("alice@example.com") == hash_key("alice@example.com")
    assert "alice" not in hash_key("alice@example.com")


def test_shadow_selection_is_sticky_and_near_rate() -> None:
    r = router(0)
    picked = [k for k in KEYS[:20_000] if r.should_shadow(k, 0.1)]
    assert abs(len(picked) / 20_000 - 0.1) < 0.015
    assert all(r.should_shadow(k, 0.1) for k in picked[:100])
    assert not any(r.should_shadow(k, 0) for k in KEYS[:100])
    rng = random.Random(1)
    assert r.should_shadow(str(rng.random()), 1.0)
