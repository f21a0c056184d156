"""Sticky, monotone assignment of requests to versions; no I/O."""

from __future__ import annotations

from ._router import BUCKETS, Router, RoutingTable, bucket_of, hash_key, sticky_key

__all__ = ["BUCKETS", "Router", "RoutingTable", "bucket_of", "hash_key", "sticky_key"]
