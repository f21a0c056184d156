"""Per-version sums and counts over a time window: what the controller judges.

Whole seconds of the window are read from the rollup (`_rollup`), the
fractional seconds at its edges from the rows, both summed by the database
(SUM, CASE): the cost of a window does not grow with the traffic in it.
Latency quantiles come from fixed histogram buckets counted the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from . import _rollup
from . import _schema as s
from ._records import FLAG_COLUMNS, LATENCY_BUCKETS_MS, NOT_ERRORS


@dataclass
class VersionAggregate:
    """Sufficient statistics of one version's traffic in a window."""

    version: str
    requests: int = 0  # client requests assigned to this version (incl. ones retried away)
    errors: int = 0  # of those, how many failed on this version
    scored: int = 0  # records the scoring worker has finished
    flags: dict[str, int] = field(default_factory=dict)  # flag -> count among scored
    latency_n: int = 0
    latency_sum: float = 0.0
    latency_sumsq: float = 0.0
    latency_hist: list[int] = field(default_factory=list)  # counts per LATENCY_BUCKETS_MS (+1)
    shadow: int = 0  # mirrored requests (no client saw the answer)
    feedback: int = 0  # user feedback given in the window (explicit and implicit)
    negative_feedback: int = 0  # of it negative

    def latency_quantile(self, q: float) -> float | None:
        """Upper bound of the bucket holding quantile q (conservative)."""
        if self.latency_n == 0:
            return None
        target = q * self.latency_n
        running = 0
        for bound, count in zip(
            (*LATENCY_BUCKETS_MS, float("inf")), self.latency_hist, strict=True
        ):
            running += count
            if running >= target:
                return bound
        return float("inf")


def aggregate_versions(
    conn: sa.Connection, *, since: float, until: float | None = None
) -> dict[str, VersionAggregate]:
    out: dict[str, VersionAggregate] = {}
    edges, pieces = _rollup.split_window(since, until)
    for lo, hi in edges:
        _add_rows(conn, out, lo, hi)
    if pieces:
        _add_rollup(conn, out, pieces)
    _add_feedback(conn, out, since, until)
    return out


def _version(out: dict[str, VersionAggregate], version: str) -> VersionAggregate:
    agg = out.get(version)
    if agg is None:
        agg = out[version] = VersionAggregate(
            version, latency_hist=[0] * (len(LATENCY_BUCKETS_MS) + 1)
        )
    return agg


def _count_if(cond: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.sum(sa.case((cond, 1), else_=0))


def _add_rollup(
    conn: sa.Connection,
    out: dict[str, VersionAggregate],
    pieces: list[tuple[int, int, int | None]],
) -> None:
    for row in _rollup.read(conn, pieces):
        version, shadow = row[0], row[1]
        # row[2] is "rows": the histogram below counts them already.
        requests, errors, retried, scored = (int(x or 0) for x in row[3:7])
        agg = _version(out, version)
        if shadow:
            agg.shadow += requests
        # A request retried on stable counts against the version that failed it.
        agg.requests += retried
        agg.errors += retried
        _add(agg, requests, errors, scored, row[7:])


def _add(agg: VersionAggregate, requests: int, errors: int, scored: int, rest: Any) -> None:
    """Add sums read from the database; `rest`: flag counts, latency sum, sum of
    squares and histogram, in that order (as both queries select them)."""
    n_flags = len(FLAG_COLUMNS)
    agg.requests += requests
    agg.errors += errors
    agg.scored += scored
    for name, count in zip(FLAG_COLUMNS, rest[:n_flags], strict=True):
        agg.flags[name] = agg.flags.get(name, 0) + int(count or 0)
    hist = [int(x or 0) for x in rest[n_flags + 2 :]]
    agg.latency_n += sum(hist)
    agg.latency_sum += float(rest[n_flags] or 0.0)
    agg.latency_sumsq += float(rest[n_flags + 1] or 0.0)
    agg.latency_hist = [a + b for a, b in zip(agg.latency_hist, hist, strict=True)]


def _add_rows(
    conn: sa.Connection, out: dict[str, VersionAggregate], since: float, until: float | None
) -> None:
    """The same sums read from the interaction rows of [since, until)."""
    c = s.interactions.c
    window = [c.created_at >= since]
    if until is not None:
        window.append(c.created_at < until)
    scored = c.scored_at.is_not(None)
    # A request retried on stable was assigned to the version that failed it:
    # it counts there (below), not as a request of the version that answered,
    # or stable would look over-served and SRM would freeze the comparison.
    assigned = c.retried_from.is_(None)
    columns = [
        c.version,
        c.shadow,
        _count_if(assigned),
        _count_if(assigned & c.error_kind.is_not(None) & c.error_kind.not_in(NOT_ERRORS)),
        _count_if(scored),
        *(_count_if(scored & c[f].is_(True)) for f in FLAG_COLUMNS),
        sa.func.sum(c.latency_ms),
        sa.func.sum(c.latency_ms * c.latency_ms),
    ]
    lower = 0.0
    for bound in (*LATENCY_BUCKETS_MS, None):
        cond = (
            c.latency_ms >= lower
            if bound is None
            else (c.latency_ms >= lower) & (c.latency_ms < bound)
        )
        columns.append(_count_if(cond))
        lower = bound or lower
    query = sa.select(*columns).where(*window).group_by(c.version, c.shadow)
    for row in conn.execute(query):
        version, shadow, n, errors, n_scored = row[0], row[1], row[2], row[3], row[4]
        agg = _version(out, version)
        if shadow:
            agg.shadow += int(n or 0)
        _add(agg, int(n or 0), int(errors or 0), int(n_scored or 0), row[5:])

    retried = (
        sa.select(c.retried_from, sa.func.count())
        .where(*window, c.retried_from.is_not(None))
        .group_by(c.retried_from)
    )
    for version, n in conn.execute(retried):
        agg = _version(out, version)
        agg.requests += int(n)
        agg.errors += int(n)


def _add_feedback(
    conn: sa.Connection, out: dict[str, VersionAggregate], since: float, until: float | None
) -> None:
    f = s.feedback.c
    window = [f.created_at >= since] + ([f.created_at < until] if until is not None else [])
    feedback = (
        sa.select(f.version, sa.func.count(), _count_if(f.negative.is_(True)))
        .where(*window)
        .group_by(f.version)
    )
    for version, n, negative in conn.execute(feedback):
        agg = _version(out, version)
        agg.feedback += int(n)
        agg.negative_feedback += int(negative or 0)
