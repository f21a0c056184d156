"""Persistence: interactions, rollout state and the audit log (SQLite or PostgreSQL)."""

from __future__ import annotations

from . import _schema as schema
from ._aggregates import VersionAggregate
from ._exceptions import ConcurrentInsert, SchemaTooNew, StaleState, StoreError, StoreUnavailable
from ._records import (
    FLAG_COLUMNS,
    LATENCY_BUCKETS_MS,
    NOT_ERRORS,
    InteractionRecord,
    ScoreUpdate,
)
from ._retention import apply_retention
from ._schema import SCHEMA_VERSION
from ._store import Store, normalize_url, redact_url

__all__ = [
    "FLAG_COLUMNS",
    "LATENCY_BUCKETS_MS",
    "NOT_ERRORS",
    "SCHEMA_VERSION",
    "ConcurrentInsert",
    "InteractionRecord",
    "SchemaTooNew",
    "ScoreUpdate",
    "StaleState",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "VersionAggregate",
    "apply_retention",
    "normalize_url",
    "redact_url",
    "schema",
]
