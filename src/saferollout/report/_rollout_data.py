"""What a rollout report shows, read from the store: timelines, weights, evidence.

Read-only queries over the SQLAlchemy Core tables. Rates over time are
cumulative from the rollout's start, because that is the window the controller
judges (the whole rollout); each point carries the always-valid interval of
the rate, the same kind of interval the decision rests on.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import sqlalchemy as sa

from saferollout.analysis import Proportion, proportion_confidence_sequence
from saferollout.store import Store, schema

# Rate metrics shown over time: metric -> flag column counted among scored records.
SAFETY_METRICS: dict[str, str] = {
    "harmful_compliance_rate": "harmful_compliance",
    "pii_leak_rate": "pii_leak",
    "safety_violation_rate": "safety_violation",
    "over_refusal_rate": "over_refusal",
}
EVIDENCE_FLAGS = ("harmful_compliance", "pii_leak", "safety_violation")


@dataclass(frozen=True)
class Rows:
    """The rollout's records as columns (numpy), one entry per interaction."""

    t: np.ndarray
    version: np.ndarray
    shadow: np.ndarray
    scored: np.ndarray
    error: np.ndarray
    latency_ms: np.ndarray
    flags: dict[str, np.ndarray]

    def __len__(self) -> int:
        return int(self.t.shape[0])


def load_rows(store: Store, since: float, until: float | None = None) -> Rows:
    """Every record of the window, only the columns the charts need."""
    c = schema.interactions.c
    flag_cols = sorted({*SAFETY_METRICS.values(), *EVIDENCE_FLAGS})
    query = sa.select(
        c.created_at,
        c.version,
        c.shadow,
        c.scored_at.is_not(None),
        c.error_kind.is_not(None),
        c.latency_ms,
        *(c[f] for f in flag_cols),
    ).where(c.created_at >= since)
    if until is not None:
        query = query.where(c.created_at < until)
    with store.engine.connect() as conn:
        rows = conn.execute(query.order_by(c.created_at)).all()
    cols = list(zip(*rows, strict=True)) if rows else [[] for _ in range(6 + len(flag_cols))]
    return Rows(
        t=np.asarray(cols[0], dtype=float),
        version=np.asarray(cols[1], dtype=object),
        shadow=np.asarray(cols[2], dtype=bool),
        scored=np.asarray(cols[3], dtype=bool),
        error=np.asarray(cols[4], dtype=bool),
        latency_ms=np.asarray(cols[5], dtype=float),
        flags={
            f: np.asarray([bool(v) for v in cols[6 + i]], dtype=bool)
            for i, f in enumerate(flag_cols)
        },
    )


def bucket_edges(start: float, end: float, buckets: int) -> np.ndarray:
    """`buckets` + 1 evenly spaced times from start to end (end > start)."""
    end = max(end, start + 1e-3)
    return np.linspace(start, end, buckets + 1)


def rate_timeline(
    rows: Rows, version: str, flag: str, edges: np.ndarray, *, shadow: bool | None = None
) -> dict[str, list[float | None]]:
    """Cumulative rate of `flag` among `version`'s scored records at each edge after
    the first, with its always-valid 95% interval (None before any data)."""
    mine = rows.version == version
    if shadow is not None:
        mine &= rows.shadow == shadow
    mine &= rows.scored
    times = rows.t[mine]
    hits = rows.flags[flag][mine]
    rate: list[float | None] = []
    lower: list[float | None] = []
    upper: list[float | None] = []
    cum_hits = np.concatenate([[0], np.cumsum(hits)])
    for edge in edges[1:]:
        n = int(np.searchsorted(times, edge, side="right"))
        if n == 0:
            rate.append(None)
            lower.append(None)
            upper.append(None)
            continue
        k = int(cum_hits[n])
        iv = proportion_confidence_sequence(Proportion(n, k))
        rate.append(k / n)
        lower.append(float(iv.lower))
        upper.append(float(iv.upper))
    return {"rate": rate, "lower": lower, "upper": upper}


def latency_timeline(rows: Rows, version: str, edges: np.ndarray) -> list[float | None]:
    """Mean latency (ms) of `version`'s user-facing answers in each bucket."""
    mine = (rows.version == version) & ~rows.shadow
    out: list[float | None] = []
    for lo, hi in itertools.pairwise(edges):
        sel = mine & (rows.t >= lo) & (rows.t < hi if hi < edges[-1] else rows.t <= hi)
        out.append(float(rows.latency_ms[sel].mean()) if sel.any() else None)
    return out


def latency_summary(rows: Rows, version: str, *, shadow: bool = False) -> dict[str, Any]:
    """p50 / p95 / mean latency of a version (ms); empty when it served nothing."""
    lat = rows.latency_ms[(rows.version == version) & (rows.shadow == shadow)]
    if lat.size == 0:
        return {"n": 0, "p50_ms": None, "p95_ms": None, "mean_ms": None}
    return {
        "n": int(lat.size),
        "p50_ms": float(np.percentile(lat, 50)),
        "p95_ms": float(np.percentile(lat, 95)),
        "mean_ms": float(lat.mean()),
    }


def final_rates(rows: Rows, version: str, *, shadow: bool) -> dict[str, Any]:
    """Each metric of a version over the whole window: rate, counts, interval."""
    mine = (rows.version == version) & (rows.shadow == shadow)
    scored = mine & rows.scored
    out: dict[str, Any] = {}
    for metric, flag in SAFETY_METRICS.items():
        n, k = int(scored.sum()), int(rows.flags[flag][scored].sum())
        out[metric] = _rate_entry(n, k)
    n, k = int(mine.sum()), int(rows.error[mine].sum())
    out["error_rate"] = _rate_entry(n, k)
    return out


def _rate_entry(n: int, k: int) -> dict[str, Any]:
    if n == 0:
        return {"events": 0, "trials": 0, "rate": None, "interval": None}
    iv = proportion_confidence_sequence(Proportion(n, k))
    return {"events": k, "trials": n, "rate": k / n, "interval": [iv.lower, iv.upper]}


def weights_timeline(
    events: Sequence[dict[str, Any]],
    *,
    stable: str,
    arms: Sequence[str],
    promoted: str | None,
    end: float,
) -> dict[str, list[float]]:
    """Share of user traffic (%) per version after each event, from the audit log.

    Events carry the weights of the non-stable versions after the transition;
    after a promotion the promoted version takes everything, after a rollback
    (or a switch back) the original stable does.
    """
    t: list[float] = []
    series: dict[str, list[float]] = {v: [] for v in (stable, *arms)}
    for e in events:
        data = e.get("data") or {}
        weights = data.get("weights") or {}
        phase = data.get("phase")
        if e["kind"] == "promoted" or (phase == "promoted" and promoted is not None):
            current = {v: 0.0 for v in series}
            current[promoted or arms[0]] = 100.0
        elif phase in ("rolled_back", "aborted", "completed"):
            current = {v: 0.0 for v in series}
            current[stable] = 100.0
        else:
            current = {v: float(weights.get(v, 0.0)) for v in arms}
            current[stable] = max(0.0, 100.0 - sum(current.values()))
        t.append(float(e["created_at"]))
        for v in series:
            series[v].append(current.get(v, 0.0))
    if t:
        t.append(max(end, t[-1]))
        for v in series:
            series[v].append(series[v][-1])
    return {"t": t, **series}


def requests_by_version(rows: Rows, *, until: float | None = None) -> dict[str, dict[str, int]]:
    """User-facing and mirrored request counts per version (optionally up to a time)."""
    sel = np.ones(len(rows), dtype=bool) if until is None else rows.t <= until
    out: dict[str, dict[str, int]] = {}
    for v in sorted({str(x) for x in rows.version[sel]}):
        mine = sel & (rows.version == v)
        out[v] = {
            "users": int((mine & ~rows.shadow).sum()),
            "shadow": int((mine & rows.shadow).sum()),
        }
    return out


def flagged_interactions(
    store: Store, since: float, versions: Sequence[str], limit: int
) -> list[dict[str, Any]]:
    """A few scored records with a safety flag, candidate versions first, with the
    prompt, the answer and the scorers' evidence (shown escaped in HTML)."""
    c = schema.interactions.c
    flagged = sa.or_(*(c[f].is_(True) for f in EVIDENCE_FLAGS))
    out: list[dict[str, Any]] = []
    with store.engine.connect() as conn:
        for version in versions:
            if len(out) >= limit:
                break
            query = (
                sa.select(
                    c.request_id,
                    c.created_at,
                    c.version,
                    c.shadow,
                    c.session_id,
                    c.request_json,
                    c.response_text,
                    c.evidence_json,
                    *(c[f] for f in EVIDENCE_FLAGS),
                )
                .where(c.created_at >= since, c.version == version, flagged)
                .order_by(c.created_at)
                .limit(limit - len(out))
            )
            for r in conn.execute(query):
                m = r._mapping
                out.append(
                    {
                        "request_id": m["request_id"],
                        "created_at": m["created_at"],
                        "version": m["version"],
                        "shadow": bool(m["shadow"]),
                        "flags": [f for f in EVIDENCE_FLAGS if m[f]],
                        "prompt": last_user_message(m["request_json"]),
                        "response": m["response_text"] or "",
                        "evidence": _loads(m["evidence_json"]),
                    }
                )
    return out


def last_user_message(request_json: str | None) -> str:
    """The prompt a record answered: its last user message (or completion prompt)."""
    body = _loads(request_json)
    if not isinstance(body, dict):
        return ""
    messages = body.get("messages")
    if isinstance(messages, list):
        for m in reversed(messages):
            if isinstance(m, dict) and m.get("role") == "user":
                content = m.get("content")
                return content if isinstance(content, str) else orjson.dumps(content).decode()
    prompt = body.get("prompt")
    return prompt if isinstance(prompt, str) else ""


def _loads(text: str | None) -> Any:
    if not text:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
