"""Per-version sums and counts over a time window: what the controller judges.

Everything is computed by the database (COUNT, SUM, CASE) so the controller's
cost does not grow with the number of rows it has to read: a million records
are one GROUP BY, not a million Python objects. Latency quantiles come from
fixed histogram buckets counted the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from . import _schema as s
from ._records import FLAG_COLUMNS

# Upper bounds (ms) of the latency histogram; the last bucket is open-ended.
LATENCY_BUCKETS_MS: tuple[float, ...] = (
    25,
    50,
    100,
    200,
    300,
    500,
    750,
    1000,
    1500,
    2000,
    3000,
    5000,
    10000,
    30000,
)


# Error kinds that do not count against a version: the client left, or sent a
# request the model server rejected.
NOT_ERRORS = ("client_disconnected", "upstream_4xx")


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
    c = s.interactions.c
    window = [c.created_at >= since]
    if until is not None:
        window.append(c.created_at < until)

    def count_if(cond: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
        return sa.func.sum(sa.case((cond, 1), else_=0))

    scored = c.scored_at.is_not(None)
    # A request retried on stable was assigned to the version that failed it:
    # it counts there (below), not as a request of the version that answered,
    # or stable would look over-served and SRM would freeze the comparison.
    assigned = c.retried_from.is_(None)
    columns = [
        c.version,
        c.shadow,
        count_if(assigned),
        count_if(assigned & c.error_kind.is_not(None) & c.error_kind.not_in(NOT_ERRORS)),
        count_if(scored),
        *(count_if(scored & c[f].is_(True)) for f in FLAG_COLUMNS),
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
        columns.append(count_if(cond))
        lower = bound or lower
    query = sa.select(*columns).where(*window).group_by(c.version, c.shadow)
    out: dict[str, VersionAggregate] = {}
    for row in conn.execute(query):
        version, shadow, n, errors, n_scored = row[0], row[1], row[2], row[3], row[4]
        flag_counts = row[5 : 5 + len(FLAG_COLUMNS)]
        lat_sum, lat_sumsq = row[5 + len(FLAG_COLUMNS)], row[6 + len(FLAG_COLUMNS)]
        hist = [int(x or 0) for x in row[7 + len(FLAG_COLUMNS) :]]
        agg = out.setdefault(version, VersionAggregate(version, latency_hist=[0] * len(hist)))
        if shadow:
            agg.shadow += int(n or 0)
        agg.requests += int(n or 0)
        agg.errors += int(errors or 0)
        agg.scored += int(n_scored or 0)
        for name, count in zip(FLAG_COLUMNS, flag_counts, strict=True):
            agg.flags[name] = agg.flags.get(name, 0) + int(count or 0)
        agg.latency_n += sum(hist)
        agg.latency_sum += float(lat_sum or 0.0)
        agg.latency_sumsq += float(lat_sumsq or 0.0)
        agg.latency_hist = [a + b for a, b in zip(agg.latency_hist, hist, strict=True)]

    # A request retried on stable counts against the version that failed it.
    retried = (
        sa.select(c.retried_from, sa.func.count())
        .where(*window, c.retried_from.is_not(None))
        .group_by(c.retried_from)
    )
    for version, n in conn.execute(retried):
        agg = out.setdefault(
            version, VersionAggregate(version, latency_hist=[0] * (len(LATENCY_BUCKETS_MS) + 1))
        )
        agg.requests += int(n)
        agg.errors += int(n)

    f = s.feedback.c
    fb_window = [f.created_at >= since] + ([f.created_at < until] if until is not None else [])
    feedback = (
        sa.select(f.version, sa.func.count(), count_if(f.negative.is_(True)))
        .where(*fb_window)
        .group_by(f.version)
    )
    for version, n, negative in conn.execute(feedback):
        agg = out.setdefault(
            version, VersionAggregate(version, latency_hist=[0] * (len(LATENCY_BUCKETS_MS) + 1))
        )
        agg.feedback += int(n)
        agg.negative_feedback += int(negative or 0)
    return out
