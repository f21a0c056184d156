"""Sticky assignment of requests to versions.

bucket = blake2b(salt, key) mod 10000. Arms own consecutive bucket ranges from
0 upward in a fixed order and the default (stable) version owns the rest, so
raising the candidate from 1% to 5% keeps every 1% key on the candidate (a
monotone ramp), and every replica with the same salt and weights agrees
without talking. blake2b is in the standard library and takes well under a
microsecond on a short key; Python's own hash() is salted per process and so
would differ between replicas.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from hashlib import blake2b

BUCKETS = 10_000


def bucket_of(salt: bytes, key: str) -> int:
    digest = blake2b(key.encode(), digest_size=8, key=salt).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def hash_key(key: str) -> str:
    """What records store instead of the raw sticky key (a user id is personal data)."""
    return blake2b(key.encode(), digest_size=8, person=b"srsticky").hexdigest()


@dataclass(frozen=True)
class RoutingTable:
    """Immutable weights: the gateway swaps the whole table atomically."""

    default: str
    arms: tuple[tuple[str, int], ...] = ()  # (version, share in basis points), in ramp order

    @classmethod
    def from_weights(cls, default: str, weights: Mapping[str, float]) -> RoutingTable:
        """`weights` in percent for every version but `default`, which gets the rest."""
        arms = []
        total = 0
        for name, pct in weights.items():
            if name == default:
                continue
            if not 0 <= pct <= 100:
                raise ValueError(f"weight of {name!r} must be within 0..100, got {pct}")
            bp = round(pct * 100)
            total += bp
            arms.append((name, bp))
        if total > BUCKETS:
            raise ValueError(f"weights add up to {total / 100}%, more than 100%")
        return cls(default, tuple(arms))

    def weights(self) -> dict[str, float]:
        out = {name: bp / 100 for name, bp in self.arms}
        out[self.default] = (BUCKETS - sum(bp for _, bp in self.arms)) / 100
        return out

    def version_for_bucket(self, bucket: int) -> str:
        upper = 0
        for name, bp in self.arms:
            upper += bp
            if bucket < upper:
                return name
        return self.default


class Router:
    """Assigns a version to a request; pure and allocation-light (hot path)."""

    def __init__(self, table: RoutingTable, *, salt: str, versions: Sequence[str]) -> None:
        self.table = table
        self.versions = frozenset(versions)
        self._salt = blake2b(salt.encode(), digest_size=32).digest()
        self._random = random.Random()

    def assign(self, key: str | None) -> str:
        if not self.table.arms:
            return self.table.default
        bucket = self._random.randrange(BUCKETS) if key is None else bucket_of(self._salt, key)
        return self.table.version_for_bucket(bucket)

    def bucket(self, key: str) -> int:
        return bucket_of(self._salt, key)

    def set_table(self, table: RoutingTable) -> None:
        """Swap weights at once; assignment reads one attribute, so no lock is needed."""
        unknown = {table.default, *(n for n, _ in table.arms)} - self.versions
        if unknown:
            raise ValueError(f"unknown versions in routing table: {sorted(unknown)}")
        self.table = table

    def should_shadow(self, key: str | None, rate: float) -> bool:
        """Whether to mirror this request; sticky per key so a session is mirrored whole."""
        if rate <= 0:
            return False
        if key is None:
            return self._random.random() < rate
        return bucket_of(self._salt[::-1], key) < rate * BUCKETS


def sticky_key(
    sources: Sequence[tuple[str, str]], headers: Mapping[str, str], body: Mapping[str, object]
) -> str | None:
    """First present source of ("header"|"body", name); non-string body values are ignored."""
    for kind, name in sources:
        if kind == "header":
            value = headers.get(name)
        else:
            raw = body.get(name)
            value = raw if isinstance(raw, str) else None
        if value:
            return value
    return None
