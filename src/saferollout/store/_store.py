"""The Store: one interface over SQLite (default) and PostgreSQL.

Synchronous SQLAlchemy Core on purpose: the gateway calls it only from its
writer thread, the scoring worker and the controller from their own loops, so
nothing on the request path ever waits on it, and one code path serves both
databases.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from . import _rollup
from . import _schema as s
from ._aggregates import VersionAggregate, aggregate_versions
from ._exceptions import ConcurrentInsert, SchemaTooNew, StaleState, StoreUnavailable
from ._records import FLAG_COLUMNS, InteractionRecord, ScoreUpdate

_INTERACTION_COLUMNS = [c.name for c in s.interactions.columns]
_ROLLUP_INPUTS = [s.interactions.c[name] for name in _rollup.INPUTS]
STATE_CHANNEL = "saferollout_state"
log = logging.getLogger("saferollout.store")


def normalize_url(url: str) -> str:
    """Let users write plain `postgresql://`; we always drive it with psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def redact_url(url: str) -> str:
    """The URL with any password masked, for logs and error messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable storage url>"


def _dumps(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _loads(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


class Store:
    """Interactions, rollout state and the audit log, in one database."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = normalize_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        # hide_parameters: error messages reach logs, and parameters are what users wrote.
        try:
            if self.is_sqlite:
                self.engine = sa.create_engine(
                    self.url,
                    connect_args={"timeout": 30, "check_same_thread": False},
                    hide_parameters=True,
                )
                sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            else:
                self.engine = sa.create_engine(
                    self.url, pool_pre_ping=True, pool_size=5, hide_parameters=True
                )
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise StoreUnavailable(f"storage.url {redact_url(url)!r}: {exc}") from exc
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        self._insert_sql = (
            f"INSERT INTO {s.interactions.name} ({', '.join(_RECORD_COLUMNS)}) "
            f"VALUES ({', '.join([mark] * len(_RECORD_COLUMNS))}) "
            "ON CONFLICT (request_id) DO NOTHING"
        )
        if create:
            try:
                self.create_schema()
            except BaseException:
                self.engine.dispose()
                raise

    # -- lifecycle ---------------------------------------------------------

    def create_schema(self) -> None:
        """Create the tables on first use and check the recorded schema version."""
        with self._begin() as conn:
            s.metadata.create_all(conn)
            row = conn.execute(
                sa.select(s.meta.c.value).where(s.meta.c.key == "schema_version")
            ).first()
            if row is None:
                conn.execute(
                    sa.insert(s.meta).values(key="schema_version", value=str(s.SCHEMA_VERSION))
                )
            elif int(row[0]) > s.SCHEMA_VERSION:
                raise SchemaTooNew(
                    f"database schema version {row[0]} is newer than this saferollout "
                    f"({s.SCHEMA_VERSION}); upgrade saferollout"
                )
        if row is not None and int(row[0]) < 2:
            self._fill_rollup()

    def _fill_rollup(self) -> None:
        """Upgrade from schema 1: sum the interactions already stored into the rollup.

        The version is bumped first, in the same transaction: of several processes
        starting at once, the one whose UPDATE changed the row does the work.
        """
        meta = s.meta.c
        claim = (
            sa.update(s.meta)
            .where(meta.key == "schema_version", meta.value == "1")
            .values(value=str(s.SCHEMA_VERSION))
        )
        with self._begin() as conn:
            if conn.execute(claim).rowcount != 1:
                return
            log.info("schema upgrade 1 -> %d: filling the interaction rollup", s.SCHEMA_VERSION)
            rows = sa.select(*_ROLLUP_INPUTS)
            with conn.execute(rows, execution_options={"stream_results": True}) as result:
                for chunk in result.partitions(10_000):
                    _rollup.apply(conn, self._insert, _rollup.row_deltas(chunk))

    def schema_version(self) -> int:
        with self._connect() as conn:
            value = conn.execute(
                sa.select(s.meta.c.value).where(s.meta.c.key == "schema_version")
            ).scalar_one()
        return int(value)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _begin(self) -> Iterator[sa.Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            raise StoreUnavailable(f"{redact_url(self.url)}: {exc.orig}") from exc

    @contextmanager
    def _connect(self) -> Iterator[sa.Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            raise StoreUnavailable(f"{redact_url(self.url)}: {exc.orig}") from exc

    def _insert(self, table: sa.Table) -> Any:
        dialect = sqlite if self.is_sqlite else postgresql
        return dialect.insert(table)

    # -- interactions --------------------------------------------------------

    def insert_interactions(self, records: Sequence[InteractionRecord]) -> int:
        """Insert records; a request id already stored is skipped, so a retried
        batch never counts a request twice. Returns how many were new."""
        if not records:
            return 0
        c = s.interactions.c
        ids = [r.request_id for r in records]
        with self._begin() as conn:
            # Stored ids come from a batch sent again after a record-writer process
            # died; the rollup must add only the rows this insert adds.
            seen = set(conn.execute(sa.select(c.request_id).where(c.request_id.in_(ids))).scalars())
            fresh = []
            for r in records:
                if r.request_id not in seen:
                    seen.add(r.request_id)
                    fresh.append(r)
            if fresh:
                # The driver's executemany on tuples: SQLAlchemy's per-row parameter
                # handling cost more than SQLite's insert (the record writer's hot path).
                done = conn.exec_driver_sql(self._insert_sql, [_record_row(r) for r in fresh])
                if done.rowcount != len(fresh):
                    # A dead writer's COMMIT can still land on PostgreSQL after we read:
                    # roll back, and the next attempt reads those ids as stored.
                    raise ConcurrentInsert(
                        f"{len(fresh) - done.rowcount} of {len(fresh)} request ids were "
                        "stored by another writer meanwhile; nothing written, insert again"
                    )
                _rollup.apply(conn, self._insert, _rollup.row_deltas(map(_rollup_input, fresh)))
        return len(fresh)

    def count_interactions(
        self, version: str | None = None, *, shadow: bool | None = None, scored: bool | None = None
    ) -> int:
        query = sa.select(sa.func.count()).select_from(s.interactions)
        if version is not None:
            query = query.where(s.interactions.c.version == version)
        if shadow is not None:
            query = query.where(s.interactions.c.shadow == shadow)
        if scored is not None:
            col = s.interactions.c.scored_at
            query = query.where(col.is_not(None) if scored else col.is_(None))
        with self._connect() as conn:
            return int(conn.execute(query).scalar_one())

    def get_interaction(self, request_id: str) -> dict[str, Any] | None:
        with self._connect() as conn:
            row = conn.execute(
                sa.select(s.interactions).where(s.interactions.c.request_id == request_id)
            ).first()
        return None if row is None else _row_dict(row)

    def list_interactions(
        self,
        *,
        version: str | None = None,
        since: float | None = None,
        until: float | None = None,
        session_id: str | None = None,
        flag: str | None = None,
        limit: int = 100,
        newest_first: bool = True,
    ) -> list[dict[str, Any]]:
        c = s.interactions.c
        query = sa.select(s.interactions)
        if version is not None:
            query = query.where(c.version == version)
        if since is not None:
            query = query.where(c.created_at >= since)
        if until is not None:
            query = query.where(c.created_at < until)
        if session_id is not None:
            query = query.where(c.session_id == session_id)
        if flag is not None:
            if flag not in FLAG_COLUMNS:
                raise ValueError(f"unknown flag {flag!r}; one of {', '.join(FLAG_COLUMNS)}")
            query = query.where(c[flag].is_(True))
        order = c.created_at.desc() if newest_first else c.created_at.asc()
        query = query.order_by(order).limit(limit)
        with self._connect() as conn:
            return [_row_dict(r) for r in conn.execute(query)]

    def version_summary(
        self, *, since: float | None = None, include_shadow: bool = False
    ) -> dict[str, dict[str, float]]:
        """Per version: requests, errors, mean latency; sums only, no rows."""
        c = s.interactions.c
        query = sa.select(
            c.version,
            sa.func.count(),
            sa.func.sum(sa.case((c.error_kind.is_not(None), 1), else_=0)),
            sa.func.avg(c.latency_ms),
        ).group_by(c.version)
        if since is not None:
            query = query.where(c.created_at >= since)
        if not include_shadow:
            query = query.where(c.shadow.is_(False))
        with self._connect() as conn:
            rows = conn.execute(query).all()
        return {
            v: {"requests": int(n), "errors": int(e or 0), "mean_latency_ms": float(m or 0.0)}
            for v, n, e, m in rows
        }

    def latencies(self, version: str, *, since: float | None = None) -> list[float]:
        c = s.interactions.c
        query = sa.select(c.latency_ms).where(c.version == version, c.shadow.is_(False))
        if since is not None:
            query = query.where(c.created_at >= since)
        with self._connect() as conn:
            return [float(x) for x in conn.execute(query).scalars()]

    def aggregate_versions(
        self, *, since: float, until: float | None = None
    ) -> dict[str, VersionAggregate]:
        """Per-version sums and counts in [since, until): see _aggregates."""
        with self._connect() as conn:
            return aggregate_versions(conn, since=since, until=until)

    def recent_responses(self, version: str, limit: int) -> list[str]:
        """Response texts of `version`'s newest `limit` answers, newest first, scored
        or not: what the anomaly detector fits its baseline on. Only answers a client
        got from the model count: no mirrored (shadow) calls, no failures, no
        embeddings, no empty text (a request blocked at input has none)."""
        c = s.interactions.c
        query = (
            sa.select(c.response_text)
            .where(
                c.version == version,
                c.shadow.is_(False),
                c.error_kind.is_(None),
                c.status_code < 400,
                c.endpoint != "embeddings",
                c.response_text.is_not(None),
                c.response_text != "",
            )
            .order_by(c.created_at.desc())
            .limit(limit)
        )
        with self._connect() as conn:
            return [str(t) for t in conn.execute(query).scalars()]

    def sessions_of(self, version: str, *, since: float | None = None) -> list[str]:
        """Conversation ids that a version answered at least once (audit after a rollback)."""
        c = s.interactions.c
        query = (
            sa.select(c.session_id)
            .where(c.version == version, c.session_id.is_not(None), c.shadow.is_(False))
            .group_by(c.session_id)
            .order_by(sa.func.min(c.created_at))
        )
        if since is not None:
            query = query.where(c.created_at >= since)
        with self._connect() as conn:
            return [str(x) for x in conn.execute(query).scalars()]

    # -- scoring queue -------------------------------------------------------

    def claim_unscored(self, limit: int, *, lease_s: float = 120.0) -> list[dict[str, Any]]:
        """Claim up to `limit` unscored records for this worker.

        On PostgreSQL the claim uses FOR UPDATE SKIP LOCKED so several workers
        never take the same row; a claim older than `lease_s` (a worker that
        died) is taken over. SQLite runs one worker, and the same statement
        works there because SQLAlchemy drops the locking clause.
        """
        c = s.interactions.c
        now = time.time()
        pick = (
            sa.select(c.request_id)
            .where(c.scored_at.is_(None))
            .where(sa.or_(c.claimed_at.is_(None), c.claimed_at < now - lease_s))
            .order_by(c.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        with self._begin() as conn:
            ids = list(conn.execute(pick).scalars())
            if not ids:
                return []
            conn.execute(
                sa.update(s.interactions).where(c.request_id.in_(ids)).values(claimed_at=now)
            )
            rows = conn.execute(sa.select(s.interactions).where(c.request_id.in_(ids))).all()
        return [_row_dict(r) for r in rows]

    def write_scores(self, updates: Sequence[ScoreUpdate]) -> None:
        """Store scores and flags. A record already scored keeps its first scores
        (two workers can score one record when a claim expired), so that the
        rollup counts it once."""
        if not updates:
            return
        now = time.time()
        c = s.interactions.c
        # One statement per record: UPDATE ... RETURNING says which rows it
        # changed, which executemany cannot.
        stmt = (
            sa.update(s.interactions)
            .where(c.request_id == sa.bindparam("rid"), c.scored_at.is_(None))
            .values(
                scored_at=now,
                scores_json=sa.bindparam("scores"),
                evidence_json=sa.bindparam("evidence"),
                **{name: sa.bindparam(f"f_{name}") for name in FLAG_COLUMNS},
            )
            .returning(c.created_at, c.version, c.shadow, *(c[f] for f in FLAG_COLUMNS))
        )
        with self._begin() as conn:
            scored = []
            for u in updates:
                params = {
                    "rid": u.request_id,
                    "scores": _dumps(u.scores),
                    "evidence": _dumps(u.evidence),
                    **{f"f_{name}": bool(u.flags.get(name, False)) for name in FLAG_COLUMNS},
                }
                row = conn.execute(stmt, params).first()
                if row is not None:
                    scored.append(row)
            _rollup.apply(conn, self._insert, _rollup.score_deltas(scored))

    # -- rollout state -------------------------------------------------------

    def load_state(self, name: str) -> tuple[int, dict[str, Any]] | None:
        """(revision, state) of a rollout, or None if it was never saved."""
        with self._connect() as conn:
            row = conn.execute(
                sa.select(s.rollout_state.c.revision, s.rollout_state.c.state_json).where(
                    s.rollout_state.c.name == name
                )
            ).first()
        return None if row is None else (int(row[0]), _loads(row[1]))

    def save_state(
        self,
        name: str,
        state: dict[str, Any],
        *,
        expected_revision: int,
        fence: tuple[str, int] | None = None,
    ) -> int:
        """Write state if nobody else wrote since `expected_revision` (0 = new).

        Returns the new revision; raises StaleState otherwise, so two writers
        can never silently overwrite each other's decisions. With `fence`
        (lease name, token) the write also needs that lease still held under
        that token, checked in the same transaction: a deposed leader whose
        lease was taken over cannot write, even once.
        """
        t = s.rollout_state
        now = time.time()
        with self._begin() as conn:
            if fence is not None and not self._fence_holds(conn, *fence, now=now):
                raise StaleState(f"lease {fence[0]!r} token {fence[1]} is no longer held")
            if expected_revision == 0:
                stmt = (
                    self._insert(t)
                    .values(name=name, revision=1, updated_at=now, state_json=_dumps(state))
                    .on_conflict_do_nothing(index_elements=["name"])
                    .returning(t.c.revision)
                )
            else:
                stmt = (
                    sa.update(t)
                    .where(t.c.name == name, t.c.revision == expected_revision)
                    .values(
                        revision=expected_revision + 1, updated_at=now, state_json=_dumps(state)
                    )
                    .returning(t.c.revision)
                )
            if conn.execute(stmt).first() is None:
                raise StaleState(f"rollout {name!r} changed since revision {expected_revision}")
            if not self.is_sqlite:
                # Delivered at commit to every replica LISTENing (watch_state).
                conn.execute(sa.select(sa.func.pg_notify(STATE_CHANNEL, name)))
        return expected_revision + 1

    def watch_state(self, stop: threading.Event, on_change: Callable[[str], None]) -> None:
        """PostgreSQL: call `on_change(rollout name)` whenever a replica saves rollout
        state, until `stop` is set (LISTEN/NOTIFY; reconnects after a failure).

        A dedicated connection outside the pool: a LISTENing connection must
        stay open and idle, which a pooled one is not. Followers still poll too,
        so a notification lost while reconnecting only costs one poll interval.
        """
        import psycopg

        url = sa.engine.make_url(self.url).set(drivername="postgresql")
        conninfo = url.render_as_string(hide_password=False)
        while not stop.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {STATE_CHANNEL}")
                    while not stop.is_set():
                        for note in conn.notifies(timeout=0.5, stop_after=1):
                            on_change(note.payload)
            except psycopg.Error as exc:
                log.warning(
                    "state notifications interrupted (%s); polling meanwhile", type(exc).__name__
                )
                stop.wait(1.0)

    # -- audit log -----------------------------------------------------------

    def append_event(
        self,
        rollout: str,
        kind: str,
        message: str,
        *,
        actor: str = "system",
        data: dict[str, Any] | None = None,
    ) -> int:
        with self._begin() as conn:
            result = conn.execute(
                sa.insert(s.events).values(
                    created_at=time.time(),
                    rollout=rollout,
                    kind=kind,
                    actor=actor,
                    message=message,
                    data_json=_dumps(data),
                )
            )
            return int(result.inserted_primary_key[0])

    def list_events(
        self, rollout: str | None = None, *, after_id: int = 0, limit: int = 200
    ) -> list[dict[str, Any]]:
        e = s.events.c
        query = sa.select(s.events).where(e.id > after_id).order_by(e.id).limit(limit)
        if rollout is not None:
            query = query.where(e.rollout == rollout)
        with self._connect() as conn:
            rows = conn.execute(query).all()
        return [
            {
                "id": r.id,
                "created_at": r.created_at,
                "rollout": r.rollout,
                "kind": r.kind,
                "actor": r.actor,
                "message": r.message,
                "data": _loads(r.data_json),
            }
            for r in rows
        ]

    # -- preflight receipts ----------------------------------------------------

    def save_receipt(
        self, rollout: str, version: str, version_hash: str, *, passed: bool, data: dict[str, Any]
    ) -> int:
        """Store a preflight outcome; `serve` looks for a passed one for its config."""
        with self._begin() as conn:
            result = conn.execute(
                sa.insert(s.receipts).values(
                    created_at=time.time(),
                    rollout=rollout,
                    version=version,
                    version_hash=version_hash,
                    passed=passed,
                    data_json=_dumps(data),
                )
            )
            return int(result.inserted_primary_key[0])

    def latest_receipt(
        self, rollout: str, version: str, version_hash: str, *, passed_only: bool = True
    ) -> dict[str, Any] | None:
        """The newest receipt for exactly this configuration of `version`, or None."""
        r = s.receipts.c
        query = (
            sa.select(s.receipts)
            .where(r.rollout == rollout, r.version == version, r.version_hash == version_hash)
            .order_by(r.id.desc())
            .limit(1)
        )
        if passed_only:
            query = query.where(r.passed.is_(True))
        with self._connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        d = dict(row._mapping)
        d["data"] = _loads(d.pop("data_json"))
        return d

    # -- human review ------------------------------------------------------------

    def add_review_items(self, set_id: str, items: Sequence[dict[str, Any]]) -> int:
        """Add blinded pairs (each a dict with a unique `item_id`); existing ids are kept."""
        if not items:
            return 0
        now = time.time()
        rows = [
            {
                "item_id": item["item_id"],
                "set_id": set_id,
                "created_at": now,
                "data_json": _dumps(item),
            }
            for item in items
        ]
        stmt = (
            self._insert(s.review_items)
            .on_conflict_do_nothing(index_elements=["item_id"])
            .returning(s.review_items.c.item_id)
        )
        with self._begin() as conn:
            return len(conn.execute(stmt, rows).all())

    def list_review_items(self, set_id: str) -> list[dict[str, Any]]:
        c = s.review_items.c
        query = sa.select(c.data_json).where(c.set_id == set_id).order_by(c.created_at, c.item_id)
        with self._connect() as conn:
            return [_loads(text) for text in conn.execute(query).scalars()]

    def add_review_rating(
        self, set_id: str, item_id: str, reviewer: str, rating: dict[str, Any]
    ) -> int:
        with self._begin() as conn:
            result = conn.execute(
                sa.insert(s.review_ratings).values(
                    item_id=item_id,
                    set_id=set_id,
                    created_at=time.time(),
                    reviewer=reviewer,
                    data_json=_dumps(rating),
                )
            )
            return int(result.inserted_primary_key[0])

    def list_review_ratings(self, set_id: str) -> list[dict[str, Any]]:
        c = s.review_ratings.c
        query = sa.select(s.review_ratings).where(c.set_id == set_id).order_by(c.id)
        with self._connect() as conn:
            rows = conn.execute(query).all()
        return [
            {
                "id": r.id,
                "item_id": r.item_id,
                "created_at": r.created_at,
                "reviewer": r.reviewer,
                **_loads(r.data_json),
            }
            for r in rows
        ]

    # -- feedback --------------------------------------------------------------------

    def interaction_version(self, request_id: str) -> str | None:
        """Which version answered `request_id` (None: no such stored interaction)."""
        c = s.interactions.c
        with self._connect() as conn:
            return conn.execute(
                sa.select(c.version).where(c.request_id == request_id)
            ).scalar_one_or_none()

    def add_feedback(
        self,
        request_id: str,
        version: str,
        *,
        kind: str,
        negative: bool,
        data: dict[str, Any],
        created_at: float | None = None,
    ) -> int:
        with self._begin() as conn:
            result = conn.execute(
                sa.insert(s.feedback).values(
                    created_at=time.time() if created_at is None else created_at,
                    request_id=request_id,
                    version=version,
                    kind=kind,
                    negative=negative,
                    data_json=_dumps(data),
                )
            )
            return int(result.inserted_primary_key[0])

    def add_feedback_many(self, rows: list[dict[str, Any]]) -> None:
        """Store many feedback rows in one insert; each row has the keyword
        arguments of `add_feedback` plus `request_id` and `version`."""
        if not rows:
            return
        values = [
            {
                "created_at": row.get("created_at") or time.time(),
                "request_id": row["request_id"],
                "version": row["version"],
                "kind": row["kind"],
                "negative": row["negative"],
                "data_json": _dumps(row["data"]),
            }
            for row in rows
        ]
        with self._begin() as conn:
            conn.execute(sa.insert(s.feedback), values)

    def feedback_counts(
        self, *, since: float | None = None, kind: str | None = None
    ) -> dict[str, tuple[int, int]]:
        """Per version: (feedback given, of it negative)."""
        c = s.feedback.c
        query = sa.select(
            c.version,
            sa.func.count(),
            sa.func.sum(sa.case((c.negative.is_(True), 1), else_=0)),
        ).group_by(c.version)
        if since is not None:
            query = query.where(c.created_at >= since)
        if kind is not None:
            query = query.where(c.kind == kind)
        with self._connect() as conn:
            return {v: (int(n), int(neg or 0)) for v, n, neg in conn.execute(query).all()}

    def list_feedback(
        self, *, version: str | None = None, since: float | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        c = s.feedback.c
        query = sa.select(s.feedback).order_by(c.id.desc()).limit(limit)
        if version is not None:
            query = query.where(c.version == version)
        if since is not None:
            query = query.where(c.created_at >= since)
        with self._connect() as conn:
            rows = conn.execute(query).all()
        out = []
        for row in rows:
            d = dict(row._mapping)
            d["data"] = _loads(d.pop("data_json"))
            out.append(d)
        return out

    # -- leader lease ------------------------------------------------------------

    def acquire_lease(self, name: str, holder: str, ttl_s: float) -> int | None:
        """Take or renew lease `name` for `holder`; its fencing token, or None if held by another.

        One conditional UPDATE (or INSERT for a new lease): the database decides
        who holds it, so two replicas can never both succeed. The token stays
        the same while `holder` renews and grows when the holder changes.
        """
        now = time.time()
        t = s.leases
        with self._begin() as conn:
            if self.is_sqlite:
                # Take SQLite's write lock before reading so the read-then-write is atomic.
                conn.exec_driver_sql("UPDATE leases SET name = name WHERE 0")
            row = conn.execute(
                sa.select(t.c.holder, t.c.token, t.c.expires_at)
                .where(t.c.name == name)
                .with_for_update()
            ).first()
            if row is None:
                stmt = (
                    self._insert(t)
                    .values(name=name, holder=holder, token=1, expires_at=now + ttl_s)
                    .on_conflict_do_nothing(index_elements=["name"])
                    .returning(t.c.token)
                )
                token = conn.execute(stmt).scalar_one_or_none()
                return None if token is None else int(token)
            if row.holder != holder and row.expires_at > now:
                return None
            token = int(row.token) if row.holder == holder else int(row.token) + 1
            conn.execute(
                sa.update(t)
                .where(t.c.name == name, t.c.token == row.token)
                .values(holder=holder, token=token, expires_at=now + ttl_s)
            )
            return token

    def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up at once (a clean shutdown), so another replica need not wait."""
        t = s.leases
        with self._begin() as conn:
            conn.execute(
                sa.update(t).where(t.c.name == name, t.c.holder == holder).values(expires_at=0.0)
            )

    def lease_info(self, name: str) -> dict[str, Any] | None:
        with self._connect() as conn:
            row = conn.execute(sa.select(s.leases).where(s.leases.c.name == name)).first()
        return None if row is None else dict(row._mapping)

    def _fence_holds(self, conn: sa.Connection, name: str, token: int, *, now: float) -> bool:
        t = s.leases
        row = conn.execute(
            sa.select(t.c.token, t.c.expires_at).where(t.c.name == name).with_for_update()
        ).first()
        return row is not None and int(row.token) == token and row.expires_at > now

    def put_judgement(self, rollout: str, judgement: dict[str, Any]) -> None:
        t = s.judgements
        row = {"rollout": rollout, "updated_at": time.time(), "data_json": _dumps(judgement)}
        stmt = self._insert(t).values(**row)
        stmt = stmt.on_conflict_do_update(
            index_elements=["rollout"],
            set_={"updated_at": row["updated_at"], "data_json": row["data_json"]},
        )
        with self._begin() as conn:
            conn.execute(stmt)

    def get_judgement(self, rollout: str) -> dict[str, Any] | None:
        t = s.judgements
        with self._connect() as conn:
            text = conn.execute(
                sa.select(t.c.data_json).where(t.c.rollout == rollout)
            ).scalar_one_or_none()
        return _loads(text)

    # -- admin commands forwarded to the leader --------------------------------------

    def enqueue_command(
        self, rollout: str, action: str, *, actor: str, body: dict[str, Any] | None = None
    ) -> int:
        with self._begin() as conn:
            result = conn.execute(
                sa.insert(s.admin_commands).values(
                    created_at=time.time(),
                    rollout=rollout,
                    action=action,
                    actor=actor,
                    body_json=_dumps(body),
                    status="pending",
                )
            )
            return int(result.inserted_primary_key[0])

    def pending_commands(self, rollout: str) -> list[dict[str, Any]]:
        c = s.admin_commands.c
        query = (
            sa.select(s.admin_commands)
            .where(c.rollout == rollout, c.status == "pending")
            .order_by(c.id)
        )
        with self._connect() as conn:
            rows = conn.execute(query).all()
        return [_command_dict(r) for r in rows]

    def finish_command(self, command_id: int, status: str, result: dict[str, Any]) -> bool:
        """Record a command's outcome once; False if it was already finished."""
        c = s.admin_commands.c
        with self._begin() as conn:
            done = conn.execute(
                sa.update(s.admin_commands)
                .where(c.id == command_id, c.status == "pending")
                .values(status=status, result_json=_dumps(result), finished_at=time.time())
                .returning(c.id)
            ).first()
        return done is not None

    def get_command(self, command_id: int) -> dict[str, Any] | None:
        c = s.admin_commands.c
        with self._connect() as conn:
            row = conn.execute(sa.select(s.admin_commands).where(c.id == command_id)).first()
        return None if row is None else _command_dict(row)

    # -- retention ----------------------------------------------------------------------

    def retention_cutoff(self, *, max_rows: int) -> float | None:
        """The created_at below which rows exceed `max_rows` (None: within the limit)."""
        c = s.interactions.c
        query = sa.select(c.created_at).order_by(c.created_at.desc()).offset(max_rows).limit(1)
        with self._connect() as conn:
            value = conn.execute(query).scalar_one_or_none()
        return None if value is None else float(value) + 1e-6

    def delete_interactions_before(self, cutoff: float, *, batch: int = 5000) -> int:
        """Delete one batch of interactions (and their feedback) older than `cutoff`.

        Small batches, each its own short transaction, so the writer and the
        dashboard never wait long on the table; call until it returns 0.
        """
        c = s.interactions.c
        oldest = (
            sa.select(c.request_id).where(c.created_at < cutoff).order_by(c.created_at).limit(batch)
        )
        # DELETE ... RETURNING: the rollup loses exactly what was deleted, as it was.
        delete = (
            sa.delete(s.interactions)
            .where(c.request_id.in_(oldest))
            .returning(c.request_id, *_ROLLUP_INPUTS)
        )
        with self._begin() as conn:
            rows = conn.execute(delete).all()
            if not rows:
                return 0
            ids = [r[0] for r in rows]
            conn.execute(sa.delete(s.feedback).where(s.feedback.c.request_id.in_(ids)))
            deltas = _rollup.row_deltas((r[1:] for r in rows), sign=-1)
            _rollup.apply(conn, self._insert, deltas)
            _rollup.drop_empty(conn, deltas)
        return len(rows)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets the scoring worker and the dashboard read while the writer writes.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


_RECORD_COLUMNS = (
    "request_id",
    "created_at",
    "version",
    "endpoint",
    "status_code",
    "latency_ms",
    "stream",
    "sticky_key_hash",
    "session_id",
    "request_json",
    "response_text",
    "error_kind",
    "ttft_ms",
    "prompt_tokens",
    "completion_tokens",
    "shadow",
    "retried_from",
    "rollout_step",
    "extra_json",
)


def _record_row(r: InteractionRecord) -> tuple[Any, ...]:
    """The record as insert parameters, in _RECORD_COLUMNS order."""
    return (
        r.request_id,
        r.created_at,
        r.version,
        r.endpoint,
        r.status_code,
        r.latency_ms,
        r.stream,
        r.sticky_key_hash,
        r.session_id,
        _dumps(r.request_messages),
        r.response_text,
        r.error_kind,
        r.ttft_ms,
        r.prompt_tokens,
        r.completion_tokens,
        r.shadow,
        r.retried_from,
        r.rollout_step,
        _dumps(r.extra) if r.extra else None,
    )


def _rollup_input(r: InteractionRecord) -> tuple[Any, ...]:
    """A new record in `_rollup.INPUTS` order (not scored yet: no flags)."""
    return (r.created_at, r.version, r.shadow, r.retried_from, r.error_kind, r.latency_ms, None)


def _row_dict(row: sa.Row[Any]) -> dict[str, Any]:
    d = dict(row._mapping)
    d["request_messages"] = _loads(d.pop("request_json"))
    d["extra"] = _loads(d.pop("extra_json")) or {}
    d["scores"] = _loads(d.pop("scores_json"))
    d["evidence"] = _loads(d.pop("evidence_json"))
    return d


def _command_dict(row: sa.Row[Any]) -> dict[str, Any]:
    d = dict(row._mapping)
    d["body"] = _loads(d.pop("body_json")) or {}
    d["result"] = _loads(d.pop("result_json"))
    return d
