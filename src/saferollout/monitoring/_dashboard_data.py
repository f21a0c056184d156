"""What the dashboard shows, read from the store and the controller's snapshot.

Read-only SQLAlchemy Core queries on `store.schema`. Aggregation is done by
the database (GROUP BY time bucket and version), so a poll costs one scan of
the rollout's window, not one Python object per interaction. Callers run these
in a worker thread: nothing here may run on the gateway's event loop.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from ..safety import mask_pii, mask_pii_in
from ..store import NOT_ERRORS, Store
from ..store import schema as s
from ._alert_model import alerts_from_event
from ._logs import PROBLEM_FLAGS  # what `saferollout logs` calls a problem, too

# Charted per version over time: (key, label, unit). Rates are over scored records.
SERIES: tuple[tuple[str, str, str], ...] = (
    ("requests", "Requests per bucket", "count"),
    ("error_rate", "Error rate", "rate"),
    ("latency_mean_ms", "Mean latency", "ms"),
    ("safety_violation_rate", "Safety violation rate", "rate"),
    ("harmful_compliance_rate", "Harmful compliance rate", "rate"),
    ("pii_leak_rate", "PII leak rate", "rate"),
    ("refusal_rate", "Refusal rate", "rate"),
    ("over_refusal_rate", "Over-refusal rate", "rate"),
)
_RATE_FLAGS = ("safety_violation", "harmful_compliance", "pii_leak", "refusal", "over_refusal")
# Same definition of an error as the controller's aggregates (store/_aggregates.py).
_BUCKETS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400)
MAX_POINTS = 60
_ALERT_SCAN = 500  # newest events looked at for alerts
# Events that may precede `rollout_started` and belong to the rollout it starts.
_STARTING_KINDS = ("preflight_forced", "alert", "alert_failed")


@dataclass
class DashboardData:
    """One refresh of everything on the page."""

    generated_at: float
    snapshot: dict[str, Any]
    stable: str
    candidate: str
    comparison: list[dict[str, Any]]
    counts: dict[str, dict[str, int]]
    series: dict[str, Any]
    events: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    flagged: list[dict[str, Any]]
    flagged_counts: dict[str, int]
    forced: dict[str, Any] | None
    redact: str

    @property
    def versions(self) -> list[str]:
        """Stable, candidate, then any other version with weight or traffic."""
        others = sorted(set(self.snapshot.get("weights", {})) | set(self.counts))
        rest = [v for v in others if v not in (self.stable, self.candidate)]
        return [self.stable, self.candidate, *rest]


def collect(
    store: Store,
    snapshot: dict[str, Any],
    *,
    triggers: list[str],
    redact: str,
    now: float | None = None,
    flagged_limit: int = 12,
    events_limit: int = 50,
) -> DashboardData:
    """Everything the page shows, as of now (call from a worker thread)."""
    now = time.time() if now is None else now
    state = snapshot["rollout"]
    since = float(state["started_at"])
    with store.engine.connect() as conn:
        first_event = _window_start(conn, state["name"])
        series = time_series(conn, since=since, now=now, is_sqlite=store.is_sqlite)
        recent = _events(conn, state["name"], after_id=first_event, limit=_ALERT_SCAN)
        forced = _events(
            conn, state["name"], after_id=first_event, limit=1, kinds=("preflight_forced",)
        )
        flagged = flagged_interactions(conn, since=since, limit=flagged_limit, redact=redact)
        flagged_counts = _flagged_counts(conn, since)
    # The same numbers the controller judges (retried requests are the failing version's).
    counts = {
        v: {"requests": a.requests, "errors": a.errors, "scored": a.scored, "shadow": a.shadow}
        for v, a in store.aggregate_versions(since=since).items()
    }
    forced_event = forced[0] if forced else None
    if forced_event is None and state.get("forced_without_preflight"):
        forced_event = {"message": "rollout started with --force-without-preflight"}
    return DashboardData(
        generated_at=now,
        snapshot=snapshot,
        stable=state["stable"],
        candidate=state["candidate"],
        comparison=comparison(snapshot, triggers),
        counts=counts,
        series=series,
        events=recent[:events_limit],
        alerts=alerts_of(recent)[:events_limit],
        flagged=flagged,
        flagged_counts=flagged_counts,
        forced=forced_event,
        redact=redact,
    )


def comparison(snapshot: dict[str, Any], triggers: list[str]) -> list[dict[str, Any]]:
    """One row per judged metric: the controller's last verdicts as they are."""
    judgement = snapshot.get("judgement")
    if judgement and judgement.get("verdicts"):
        return [dict(v) for v in judgement["verdicts"]]
    return [
        {
            "metric": m,
            "status": "NODATA",
            "candidate": None,
            "stable": None,
            "interval": None,
            "p_value": None,
            "n_candidate": 0,
            "n_stable": 0,
            "action": "",
            "critical": False,
            "dry_run": False,
            "reason": "no analysis yet",
        }
        for m in triggers
    ]


def _count_if(cond: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.sum(sa.case((cond, 1), else_=0))


def _is_error(c: Any) -> sa.ColumnElement[bool]:
    return c.error_kind.is_not(None) & c.error_kind.not_in(NOT_ERRORS)


def _assigned(c: Any) -> sa.ColumnElement[bool]:
    """Rows that count as a request of the version that answered (as in the
    controller's aggregates: a retried request belongs to the version that failed)."""
    return c.retried_from.is_(None)


def bucket_size(span_s: float) -> int:
    """The smallest round bucket that keeps a chart under MAX_POINTS points."""
    for size in _BUCKETS_S:
        if span_s / size <= MAX_POINTS:
            return size
    return _BUCKETS_S[-1]


def time_series(
    conn: sa.Connection, *, since: float, now: float, is_sqlite: bool
) -> dict[str, Any]:
    """Per-version series over equal time buckets since `since`, for uPlot.

    Returns `{"bucket_s", "t": [bucket starts], "versions": {v: {key: [values]}}}`;
    a rate with nothing scored in its bucket is None (a gap, not a zero).
    """
    size = bucket_size(max(now - since, 1.0))
    c = s.interactions.c
    rel = (c.created_at - since) / size
    # Both databases, one query: CAST truncates in SQLite (= floor for rel >= 0);
    # PostgreSQL's CAST rounds, so it gets floor().
    index = sa.cast(rel, sa.Integer) if is_sqlite else sa.func.floor(rel)
    scored = c.scored_at.is_not(None)
    # A subquery, so GROUP BY names a column: PostgreSQL would not match two
    # copies of an expression whose parameters are bound separately.
    inner = (
        sa.select(
            index.label("b"),
            c.version,
            _assigned(c).label("assigned"),
            (_assigned(c) & _is_error(c)).label("err"),
            c.latency_ms,
            scored.label("scored"),
            *(sa.and_(scored, c[f].is_(True)).label(f) for f in _RATE_FLAGS),
        )
        .where(c.created_at >= since)
        .subquery()
    )
    q = inner.c
    rows = conn.execute(
        sa.select(
            q.b,
            q.version,
            _count_if(q.assigned),
            _count_if(q.err),
            sa.func.avg(q.latency_ms),
            _count_if(q.scored),
            *(_count_if(q[f]) for f in _RATE_FLAGS),
        ).group_by(q.b, q.version)
    ).all()
    retried_inner = (
        sa.select(index.label("b"), c.retried_from.label("version"))
        .where(c.created_at >= since, c.retried_from.is_not(None))
        .subquery()
    )
    retried = conn.execute(
        sa.select(retried_inner.c.b, retried_inner.c.version, sa.func.count()).group_by(
            retried_inner.c.b, retried_inner.c.version
        )
    ).all()

    last = int((now - since) // size)
    for row in (*rows, *retried):
        last = max(last, int(row[0]))
    n = last + 1
    raw: dict[str, dict[str, list[float]]] = {}

    def version_arrays(version: str) -> dict[str, list[float]]:
        keys = ("requests", "errors", "latency_sum", "scored", *_RATE_FLAGS)
        return raw.setdefault(version, {k: [0.0] * n for k in keys})

    for b, version, count, errors, latency, n_scored, *flags in rows:
        arr = version_arrays(str(version))
        i = int(b)
        arr["requests"][i] += int(count)
        arr["errors"][i] += int(errors or 0)
        arr["latency_sum"][i] += float(latency or 0.0) * int(count)
        arr["scored"][i] += int(n_scored or 0)
        for name, value in zip(_RATE_FLAGS, flags, strict=True):
            arr[name][i] += int(value or 0)
    latency_n = {v: list(a["requests"]) for v, a in raw.items()}  # before retries are added
    for b, version, count in retried:
        arr = version_arrays(str(version))
        latency_n.setdefault(str(version), [0.0] * n)
        arr["requests"][int(b)] += int(count)
        arr["errors"][int(b)] += int(count)

    versions: dict[str, dict[str, list[float | None]]] = {}
    for version, a in raw.items():
        ln = latency_n[version]
        versions[version] = {
            "requests": [int(x) for x in a["requests"]],
            "error_rate": [_ratio(e, r) for e, r in zip(a["errors"], a["requests"], strict=True)],
            "latency_mean_ms": [_ratio(t, k) for t, k in zip(a["latency_sum"], ln, strict=True)],
            **{
                f"{f}_rate": [_ratio(x, k) for x, k in zip(a[f], a["scored"], strict=True)]
                for f in _RATE_FLAGS
            },
        }
    return {"bucket_s": size, "t": [since + i * size for i in range(n)], "versions": versions}


def alerts_of(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The alerts these events raise, by the same mapping the alert sinks use."""
    out = []
    for event in events:
        for alert in alerts_from_event(event):
            out.append(
                {
                    "event_id": alert.event_id,
                    "time": alert.time,
                    "kind": alert.kind,
                    "severity": alert.severity,
                    "status": alert.status,
                    "summary": alert.summary,
                }
            )
    return out


def _ratio(num: float, den: float) -> float | None:
    return None if den <= 0 else num / den


def _window_start(conn: sa.Connection, rollout: str) -> int:
    """Events of the current rollout have ids above this one.

    A rollout name is reused by the next candidate, so the window opens after
    the last event before this rollout's `rollout_started` that is not part of
    starting it: a `preflight_forced` (and the alert records it caused) comes
    just before `rollout_started` and belongs to the new rollout.
    """
    e = s.events.c
    started = conn.execute(
        sa.select(sa.func.max(e.id)).where(e.rollout == rollout, e.kind == "rollout_started")
    ).scalar()
    if started is None:
        return 0
    before = conn.execute(
        sa.select(sa.func.max(e.id)).where(
            e.rollout == rollout, e.id < started, e.kind.not_in(_STARTING_KINDS)
        )
    ).scalar()
    return int(before or 0)


def _events(
    conn: sa.Connection,
    rollout: str,
    *,
    after_id: int,
    limit: int,
    kinds: tuple[str, ...] | None = None,
) -> list[dict[str, Any]]:
    """The newest events of the rollout, newest first."""
    e = s.events.c
    query = sa.select(s.events).where(e.rollout == rollout, e.id > after_id)
    if kinds is not None:
        query = query.where(e.kind.in_(kinds))
    rows = conn.execute(query.order_by(e.id.desc()).limit(limit)).all()
    return [
        {
            "id": r.id,
            "created_at": r.created_at,
            "rollout": r.rollout,
            "kind": r.kind,
            "actor": r.actor,
            "message": r.message,
            "data": orjson.loads(r.data_json) if r.data_json else None,
        }
        for r in rows
    ]


def _any_problem(c: Any) -> sa.ColumnElement[bool]:
    return sa.or_(*(c[f].is_(True) for f in PROBLEM_FLAGS))


def _flagged_counts(conn: sa.Connection, since: float) -> dict[str, int]:
    """Per version: how many interactions of the rollout carry a problem flag."""
    c = s.interactions.c
    query = (
        sa.select(c.version, sa.func.count())
        .where(c.created_at >= since, _any_problem(c))
        .group_by(c.version)
    )
    return {str(v): int(n) for v, n in conn.execute(query)}


def flagged_interactions(
    conn: sa.Connection, *, since: float, limit: int, redact: str
) -> list[dict[str, Any]]:
    """The newest flagged interactions with their evidence, text per `redact`.

    `pii`: masked again on the way out (records written before the setting
    changed are covered too); `drop`: no text at all.
    """
    c = s.interactions.c
    query = (
        sa.select(
            c.request_id,
            c.created_at,
            c.version,
            c.session_id,
            c.request_json,
            c.response_text,
            c.evidence_json,
            *(c[f] for f in PROBLEM_FLAGS),
        )
        .where(c.created_at >= since, _any_problem(c))
        .order_by(c.created_at.desc())
        .limit(limit)
    )
    out = []
    for r in conn.execute(query):
        m = r._mapping
        evidence = orjson.loads(m["evidence_json"]) if m["evidence_json"] else {}
        prompt = _last_user_message(orjson.loads(m["request_json"]) if m["request_json"] else None)
        response = m["response_text"] or ""
        if redact == "drop":
            prompt, response = "", ""
        elif redact == "pii":
            prompt, response = mask_pii(prompt), mask_pii(response)
            evidence = mask_pii_in(evidence)
        out.append(
            {
                "request_id": m["request_id"],
                "created_at": m["created_at"],
                "version": m["version"],
                "session_id": m["session_id"],
                "flags": [f for f in PROBLEM_FLAGS if m[f]],
                "prompt": prompt,
                "response": response,
                "evidence": evidence,
            }
        )
    return out


def _last_user_message(messages: Any) -> str:
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(
                    str(p.get("text", "")) for p in content if isinstance(p, dict)
                ).strip()
    return ""
