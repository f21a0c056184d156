"""Interaction log queries: filters, their parsing, and paging through the store.

What `saferollout logs` and the close-the-loop exports read. Columns the
store indexes (version, time, session, flags) are filtered in SQL; scores
and evidence categories live in JSON text (one code path for SQLite and
PostgreSQL), so they are pre-filtered with a LIKE on the JSON where that is
a safe superset and checked exactly in Python, page by page (keyset paging
on created_at, request_id), so an export of a million rows never holds them
all in memory.
"""

from __future__ import annotations

import operator
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa

from ..store import FLAG_COLUMNS, Store, schema

# Flags that mean something went wrong with the answer (refusal and appropriate
# refusal are behaviour, not faults): `--flagged` and the summary use these.
PROBLEM_FLAGS: tuple[str, ...] = (
    "safety_violation",
    "pii_leak",
    "harmful_compliance",
    "over_refusal",
    "guardrail_triggered",
    "anomaly",
)
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SCORE = re.compile(r"^\s*([A-Za-z0-9_.]+)\s*(>=|<=|==|=|>|<)\s*([-+0-9.eE]+)\s*$")
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "=": operator.eq,
    "==": operator.eq,
}
PAGE = 500


class LogQueryError(ValueError):
    """A filter that cannot be understood; the message names the option and the value."""


def parse_time(text: str, *, option: str, now: float | None = None) -> float:
    """Epoch seconds from `15m`/`2h`/`3d` (ago), an ISO 8601 date or time, or epoch seconds."""
    value = text.strip()
    now = time.time() if now is None else now
    m = _RELATIVE.match(value)
    if m:
        return now - float(m.group(1)) * _UNIT_S[m.group(2)]
    try:
        return float(value)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise LogQueryError(
            f"{option} {text!r}: use a duration ago (30s, 15m, 2h, 7d, 1w), an ISO 8601 "
            "time (2025-01-31T12:00:00Z) or epoch seconds"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


@dataclass(frozen=True)
class ScoreFilter:
    """`name OP value`: an exact score key (`harmful.violence`), or a prefix whose
    keys are maxed (`harmful` = the highest `harmful.*` score)."""

    name: str
    op: str
    value: float

    @classmethod
    def parse(cls, text: str) -> ScoreFilter:
        m = _SCORE.match(text)
        if not m:
            raise LogQueryError(
                f"--score {text!r}: write NAME OP VALUE, e.g. harmful>=0.8 or pii.leak>0.5 "
                "(OP one of >=, <=, >, <, =)"
            )
        try:
            value = float(m.group(3))
        except ValueError:
            raise LogQueryError(f"--score {text!r}: {m.group(3)!r} is not a number") from None
        return cls(m.group(1), m.group(2), value)

    def score_of(self, scores: Mapping[str, float]) -> float | None:
        if self.name in scores:
            return float(scores[self.name])
        prefix = self.name + "."
        found = [float(v) for k, v in scores.items() if k.startswith(prefix)]
        return max(found) if found else None

    def matches(self, scores: Mapping[str, float] | None) -> bool:
        value = self.score_of(scores or {})
        return value is not None and _OPS[self.op](value, self.value)

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value:g}"


def categories_of(evidence: Mapping[str, Any] | None) -> list[str]:
    """The violation categories a record's evidence names, in a stable order.

    Harm categories over their thresholds (`violence`, `hate`, ...), `pii` and
    `pii.<TYPE>` for leaked entities, the judge's categories, `bias`, the
    guardrail's category, and `anomaly` / `anomaly.<feature>`.
    """
    if not evidence:
        return []
    out: list[str] = []

    def add(name: Any) -> None:
        if isinstance(name, str) and name and name not in out:
            out.append(name)

    for c in evidence.get("violation_categories") or ():
        add(c)
    pii = evidence.get("pii")
    if isinstance(pii, Mapping) and pii.get("leaked"):
        add("pii")
        for entity in pii["leaked"]:
            if isinstance(entity, Mapping):
                add(f"pii.{entity.get('type')}")
    judge = evidence.get("judge")
    if isinstance(judge, Mapping):
        for c in judge.get("judge_categories") or ():
            add(c)
    if "bias" in (evidence.get("flags") or ()):
        add("bias")
    guardrail = evidence.get("guardrail")
    if isinstance(guardrail, Mapping):
        add(guardrail.get("category"))
    anomaly = evidence.get("anomaly")
    if isinstance(anomaly, Mapping) and anomaly.get("out_of_range"):
        add("anomaly")
        for feature in anomaly["out_of_range"]:
            add(f"anomaly.{feature}")
    return out


@dataclass(frozen=True)
class LogFilter:
    """Which interactions a query selects. Lists are OR within one option, options AND."""

    versions: tuple[str, ...] = ()
    since: float | None = None
    until: float | None = None
    flags: tuple[str, ...] = ()  # any of these flags set
    categories: tuple[str, ...] = ()  # any of these evidence categories
    scores: tuple[ScoreFilter, ...] = ()  # all of these hold
    session: str | None = None
    request_ids: tuple[str, ...] = ()
    shadow: bool | None = None  # None: both; True: only mirrored calls; False: none
    scored: bool | None = None
    errors_only: bool = False

    def __post_init__(self) -> None:
        for flag in self.flags:
            if flag not in FLAG_COLUMNS:
                raise LogQueryError(
                    f"--flag {flag!r}: not a flag; one of {', '.join(FLAG_COLUMNS)}"
                )
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise LogQueryError("--since must be before --until")

    def where(self) -> list[sa.ColumnElement[bool]]:
        """The SQL conditions; categories are a LIKE superset, checked exactly later."""
        c = schema.interactions.c
        conds: list[sa.ColumnElement[bool]] = []
        if self.versions:
            conds.append(c.version.in_(self.versions))
        if self.since is not None:
            conds.append(c.created_at >= self.since)
        if self.until is not None:
            conds.append(c.created_at < self.until)
        if self.session is not None:
            conds.append(c.session_id == self.session)
        if self.request_ids:
            conds.append(c.request_id.in_(self.request_ids))
        if self.flags:
            conds.append(sa.or_(*(c[f].is_(True) for f in self.flags)))
        if self.categories:
            conds.append(
                sa.or_(
                    *(
                        c.evidence_json.like(f'%"{_like_escape(_json_token(k))}%', escape="\\")
                        for k in self.categories
                    )
                )
            )
        if self.scores:
            conds.append(c.scores_json.is_not(None))
        if self.shadow is not None:
            conds.append(c.shadow.is_(self.shadow))
        if self.scored is not None:
            conds.append(c.scored_at.is_not(None) if self.scored else c.scored_at.is_(None))
        if self.errors_only:
            conds.append(c.error_kind.is_not(None))
        return conds

    def accepts(self, row: Mapping[str, Any]) -> bool:
        """The checks SQL could not make exactly: categories and scores."""
        if self.categories:
            found = set(categories_of(row.get("evidence")))
            if not found.intersection(self.categories):
                return False
        return all(s.matches(row.get("scores")) for s in self.scores)


def _json_token(category: str) -> str:
    """The string the evidence JSON holds for a category: `pii.EMAIL_ADDRESS` is stored
    as the entity type `EMAIL_ADDRESS`, `anomaly.length` as the feature `length`."""
    return category.split(".", 1)[1] if "." in category else category


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def row_dict(row: sa.Row[Any]) -> dict[str, Any]:
    """A stored interaction as a dict with its JSON columns decoded and its flags listed."""
    d = dict(row._mapping)
    for src, dst in (
        ("request_json", "request_messages"),
        ("extra_json", "extra"),
        ("scores_json", "scores"),
        ("evidence_json", "evidence"),
    ):
        text = d.pop(src, None)
        d[dst] = None if text is None else orjson.loads(text)
    d["extra"] = d["extra"] or {}
    d["flags"] = [f for f in FLAG_COLUMNS if d.get(f)]
    d["categories"] = categories_of(d["evidence"])
    return d


def iter_interactions(
    store: Store,
    flt: LogFilter,
    *,
    limit: int | None = None,
    newest_first: bool = True,
    page: int = PAGE,
) -> Iterator[dict[str, Any]]:
    """Interactions matching `flt`, newest (or oldest) first, up to `limit`."""
    t = schema.interactions
    c = t.c
    conds = flt.where()
    order = (
        (c.created_at.desc(), c.request_id.desc()) if newest_first else (c.created_at, c.request_id)
    )
    cursor: tuple[float, str] | None = None
    yielded = 0
    while True:
        query = sa.select(t).where(*conds)
        if cursor is not None:
            after = sa.tuple_(c.created_at, c.request_id)
            query = query.where(after < cursor if newest_first else after > cursor)
        query = query.order_by(*order).limit(page)
        with store.engine.connect() as conn:
            rows = conn.execute(query).all()
        for row in rows:
            d = row_dict(row)
            if flt.accepts(d):
                yield d
                yielded += 1
                if limit is not None and yielded >= limit:
                    return
        if len(rows) < page:
            return
        last = rows[-1]
        cursor = (last.created_at, last.request_id)


def get_interaction(store: Store, request_id: str) -> dict[str, Any] | None:
    rows = list(iter_interactions(store, LogFilter(request_ids=(request_id,)), limit=1))
    return rows[0] if rows else None


def prompt_of(messages: Sequence[Mapping[str, Any]] | None) -> str:
    """The last user message's text: what a person asked."""
    for m in reversed(messages or ()):
        if m.get("role") == "user":
            content = m.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(
                    p["text"]
                    for p in content
                    if isinstance(p, Mapping) and isinstance(p.get("text"), str)
                )
    return ""


def iso(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class SessionExposure:
    """One conversation that a version answered: the audit trail after a rollback."""

    session_id: str
    requests: int  # answered by the version
    first_at: float
    last_at: float
    later_versions: list[str] = field(default_factory=list)  # who answered it afterwards


def sessions_exposed(
    store: Store, version: str, *, since: float | None = None, until: float | None = None
) -> list[SessionExposure]:
    """Conversations `version` answered (no mirrored calls), oldest first, and which
    versions carried them on afterwards (after a rollback: stable)."""
    c = schema.interactions.c
    window = [c.version == version, c.session_id.is_not(None), c.shadow.is_(False)]
    if since is not None:
        window.append(c.created_at >= since)
    if until is not None:
        window.append(c.created_at < until)
    query = (
        sa.select(
            c.session_id, sa.func.count(), sa.func.min(c.created_at), sa.func.max(c.created_at)
        )
        .where(*window)
        .group_by(c.session_id)
        .order_by(sa.func.min(c.created_at), c.session_id)
    )
    with store.engine.connect() as conn:
        out = {
            sid: SessionExposure(str(sid), int(n), float(first), float(last))
            for sid, n, first, last in conn.execute(query)
        }
        if out:
            ids = list(out)
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                later = (
                    sa.select(c.session_id, c.version, sa.func.min(c.created_at))
                    .where(c.session_id.in_(chunk), c.version != version, c.shadow.is_(False))
                    .group_by(c.session_id, c.version)
                )
                for sid, other, first in conn.execute(later):
                    exp = out[sid]
                    if first > exp.first_at and other not in exp.later_versions:
                        exp.later_versions.append(str(other))
    return list(out.values())
