"""Retention: delete old interaction records in short batches.

Each batch is its own transaction, with a pause between, so the writer
thread and the dashboard never wait long behind a cleanup of millions of rows.
"""

from __future__ import annotations

import time

from ._store import Store


def apply_retention(
    store: Store,
    *,
    days: float | None,
    max_rows: int | None,
    batch_size: int = 5000,
    pause_s: float = 0.05,
    now: float | None = None,
) -> int:
    """Delete what is older than `days` or beyond the newest `max_rows`; returns the count."""
    cutoffs = []
    if days is not None:
        cutoffs.append((time.time() if now is None else now) - days * 86400.0)
    if max_rows is not None:
        by_rows = store.retention_cutoff(max_rows=max_rows)
        if by_rows is not None:
            cutoffs.append(by_rows)
    if not cutoffs:
        return 0
    cutoff = max(cutoffs)
    deleted = 0
    while n := store.delete_interactions_before(cutoff, batch=batch_size):
        deleted += n
        time.sleep(pause_s)
    return deleted
