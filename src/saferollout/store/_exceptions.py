"""Errors the store raises; SQLAlchemy's errors are translated at the boundary.

StoreError
 ├── StoreUnavailable   the database could not be reached or is locked
 ├── SchemaTooNew       the database was written by a newer saferollout
 ├── StaleState         a concurrent writer changed the rollout state first
 └── ConcurrentInsert   another writer committed some of a batch's request ids meanwhile
"""

from __future__ import annotations


class StoreError(Exception):
    """Base class for store errors."""


class StoreUnavailable(StoreError):
    """The database could not be reached (down, locked, bad URL)."""


class SchemaTooNew(StoreError):
    """The schema version in the database is newer than this code knows."""


class StaleState(StoreError):
    """The rollout state changed since it was read (optimistic concurrency)."""


class ConcurrentInsert(StoreError):
    """Some of a batch's request ids were committed by another writer while it was
    being inserted (nothing was written; inserting it again is safe)."""
