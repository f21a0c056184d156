"""User feedback: `POST /v1/feedback` and the implicit signals the gateway sees.

Explicit feedback joins the interaction by its request id. The record may
still sit in the writer's queue (it flushes every `flush_interval_s`), so the
gateway keeps a bounded map of recently served request ids -> version, and
only falls back to the store (in a thread, never on the event loop) for
older ids or ids served by another replica.

Implicit feedback, kind "implicit", always negative, at most one per request:

- abandoned: the client left mid-stream (headers and some chunks sent, then
  the connection closed before the end);
- regenerated: the same sticky key sent the same conversation turn again
  (same number of messages and same last user message) within
  `regenerate_window_s`; the earlier answer gets the negative signal.

Cost on the request path: `track` and `observe` are a few dict operations
(no I/O, no hashing beyond Python's string hash). Implicit signals are stored
in batches: one executor job and one multi-row insert per `IMPLICIT_FLUSH_S`,
however many arrived. (One job per signal cost more than the proxying itself
when every turn was a regeneration: executor threads fighting the event loop
for the GIL.)
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import orjson
import sqlalchemy as sa
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from ..store import InteractionRecord, Store, StoreError, StoreUnavailable, schema
from ._errors import error_response

log = logging.getLogger("saferollout.gateway.feedback")

REPORT_CATEGORIES = ("harmful", "pii", "refusal", "incorrect", "bias", "other")
THUMBS = {"up": False, "down": True}  # rating -> negative
MAX_COMMENT_CHARS = 2000
MAX_REQUEST_ID_CHARS = 64
RECENT_MAX = 100_000  # request ids remembered in memory (~10 MB)
REGENERATE_WINDOW_S = 120.0
IMPLICIT_FLUSH_S = 0.5
_SWEEP_EVERY = 1024  # answered requests between sweeps of expired turns
_FIELDS = ("request_id", "rating", "report", "comment")


class FeedbackError(Exception):
    """A feedback body we refuse: status, message, OpenAI-style code and param."""

    def __init__(self, status: int, message: str, *, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param


def parse_feedback(raw: bytes) -> dict[str, Any]:
    """Check a feedback body; returns {request_id, rating, negative, report?, comment?}.

    Negative: thumbs down, a rating of 1 or 2, or any report (a report is a complaint).
    """
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise FeedbackError(400, f"body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise FeedbackError(400, "body must be a JSON object", code="invalid_body")
    unknown = sorted(set(body) - set(_FIELDS))
    if unknown:
        raise FeedbackError(
            400,
            f"unknown field {unknown[0]!r}; fields: {', '.join(_FIELDS)}",
            code="unknown_field",
            param=unknown[0],
        )
    rid = body.get("request_id")
    if not isinstance(rid, str) or not 0 < len(rid) <= MAX_REQUEST_ID_CHARS:
        raise FeedbackError(
            400,
            f"request_id must be the X-Request-Id of a response (a string of 1 to "
            f"{MAX_REQUEST_ID_CHARS} characters)",
            code="invalid_request_id",
            param="request_id",
        )
    rating = body.get("rating")
    if isinstance(rating, str) and rating in THUMBS:
        negative = THUMBS[rating]
    elif isinstance(rating, int) and not isinstance(rating, bool) and 1 <= rating <= 5:
        negative = rating <= 2
    else:
        raise FeedbackError(
            400,
            f"rating must be 'up', 'down' or an integer from 1 to 5, got {rating!r}"[:200],
            code="invalid_rating",
            param="rating",
        )
    out: dict[str, Any] = {"request_id": rid, "rating": rating}
    report = body.get("report")
    if report is not None:
        if report not in REPORT_CATEGORIES:
            raise FeedbackError(
                400,
                f"report must be one of {', '.join(REPORT_CATEGORIES)}, got {report!r}"[:200],
                code="invalid_report",
                param="report",
            )
        out["report"] = report
        negative = True
    comment = body.get("comment")
    if comment is not None:
        if not isinstance(comment, str) or len(comment) > MAX_COMMENT_CHARS:
            raise FeedbackError(
                400,
                f"comment must be a string of at most {MAX_COMMENT_CHARS} characters",
                code="invalid_comment",
                param="comment",
            )
        out["comment"] = comment
    out["negative"] = negative
    return out


class FeedbackRoutes:
    """The feedback route, the recent-request map and the implicit-signal detector."""

    def __init__(
        self,
        store: Store,
        registry: CollectorRegistry,
        *,
        redact: str = "none",
        recent_max: int = RECENT_MAX,
        regenerate_window_s: float = REGENERATE_WINDOW_S,
    ) -> None:
        self.store = store
        self.recent_max = recent_max
        self.regenerate_window_s = regenerate_window_s
        self._mask = _comment_masker(redact)
        # request id -> the in-flight record (its version may still change by a
        # retry) or, once finished, the version that answered.
        self._recent: OrderedDict[str, InteractionRecord | str] = OrderedDict()
        # (sticky key hash, message count, hash of the last user message) ->
        # (request id, version, time), oldest first; only the window's turns are kept.
        self._turns: OrderedDict[tuple[str, int, int], tuple[str, str, float]] = OrderedDict()
        self._implicit_done: OrderedDict[str, None] = OrderedDict()  # one signal per request
        self._until_sweep = _SWEEP_EVERY
        self._pending: set[asyncio.Future[Any]] = set()
        self._implicit_batch: list[dict[str, Any]] = []
        self._flush_timer: asyncio.TimerHandle | None = None
        # One explicit rating per request: the check and the insert under one lock.
        self._explicit_lock = threading.Lock()
        self.counter = Counter(
            "saferollout_feedback",
            "User feedback stored, by version, kind (explicit, implicit) and whether negative",
            ["version", "kind", "negative"],
            registry=registry,
        )

    def register(self, app: web.Application) -> None:
        app.router.add_post("/v1/feedback", self.post)
        app.on_cleanup.append(self._drain)

    # -- the request path ----------------------------------------------------------

    def track(self, record: InteractionRecord) -> None:
        """A stream's headers are about to go out: the client knows the request id
        before the request finished, so feedback on it is accepted from now on.

        Other answers need no call: `observe` runs before their response is
        written (the gateway's `finally`), so no client can send an id sooner.
        """
        self._remember(record.request_id, record)

    def _remember(self, rid: str, entry: InteractionRecord | str) -> None:
        recent = self._recent
        recent[rid] = entry
        if len(recent) > self.recent_max:
            recent.popitem(last=False)

    def observe(self, record: InteractionRecord) -> None:
        """A request finished: remember its final version, detect implicit signals."""
        rid = record.request_id
        self._remember(rid, record.version)
        if (
            record.stream
            and record.status_code == 200
            and record.error_kind == "client_disconnected"
        ):
            self._implicit(rid, record.version, "abandoned", {})
            return
        key = self._turn_key(record)
        if key is None:
            return
        turns = self._turns
        now = record.created_at
        previous = turns.get(key)
        answered = record.status_code == 200 and record.error_kind is None
        if answered:
            turns[key] = (rid, record.version, now)
            turns.move_to_end(key)
            if len(turns) > self.recent_max:
                turns.popitem(last=False)
            self._until_sweep -= 1
            if self._until_sweep <= 0:  # now and then, forget turns older than the window
                self._until_sweep = _SWEEP_EVERY
                horizon = now - self.regenerate_window_s
                while turns and next(iter(turns.values()))[2] < horizon:
                    turns.popitem(last=False)
        if previous is not None and previous[0] != rid:
            prev_id, prev_version, prev_at = previous
            if 0 <= now - prev_at <= self.regenerate_window_s:
                self._implicit(prev_id, prev_version, "regenerated", {"regenerated_by": rid})

    @staticmethod
    def _turn_key(record: InteractionRecord) -> tuple[str, int, int] | None:
        messages = record.request_messages
        if record.sticky_key_hash is None or not messages or record.endpoint == "embeddings":
            return None
        last = messages[-1]
        content = last.get("content") if isinstance(last, dict) else None
        if not isinstance(content, str) or last.get("role") != "user":
            return None
        # hash(): no prompt text is kept in memory, and str caches its hash.
        return (record.sticky_key_hash, len(messages), hash(content))

    def _implicit(self, rid: str, version: str, signal: str, data: dict[str, Any]) -> None:
        done = self._implicit_done
        if rid in done:
            return
        done[rid] = None
        if len(done) > self.recent_max:
            done.popitem(last=False)
        self._implicit_batch.append(
            {
                "request_id": rid,
                "version": version,
                "kind": "implicit",
                "negative": True,
                "data": {"signal": signal, **data},
                "created_at": time.time(),
            }
        )
        if self._flush_timer is None:
            loop = asyncio.get_running_loop()
            self._flush_timer = loop.call_later(IMPLICIT_FLUSH_S, self._flush_implicit)

    def _flush_implicit(self) -> None:
        self._flush_timer = None
        batch, self._implicit_batch = self._implicit_batch, []
        if batch:
            self._spawn(self._store_implicit, batch)

    def _spawn(self, fn: Callable[..., Any], *args: Any) -> None:
        fut = asyncio.get_running_loop().run_in_executor(None, fn, *args)
        self._pending.add(fut)
        fut.add_done_callback(self._pending.discard)

    def _store_implicit(self, batch: list[dict[str, Any]]) -> None:
        try:
            self.store.add_feedback_many(batch)
        except StoreError as exc:
            log.warning("%d implicit feedback signals not stored: %s", len(batch), exc)
            return
        for row in batch:
            self.counter.labels(row["version"], "implicit", "true").inc()

    async def _drain(self, _app: web.Application) -> None:
        """At shutdown, store the implicit signals still batched or being written."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_implicit()
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    # -- POST /v1/feedback -----------------------------------------------------------

    async def post(self, request: web.Request) -> web.Response:
        try:
            fb = parse_feedback(await request.read())
        except FeedbackError as exc:
            return error_response(exc.status, exc.message, code=exc.code, param=exc.param)
        rid = fb["request_id"]
        loop = asyncio.get_running_loop()
        version = self.version_of(rid)
        try:
            if version is None and not rid.startswith("shd_"):  # mirrors were never served
                version = await loop.run_in_executor(None, self.store.interaction_version, rid)
            if version is None:
                return error_response(
                    404,
                    f"no interaction with request_id {rid!r}: use the X-Request-Id header "
                    "of a response from this gateway",
                    code="request_not_found",
                    param="request_id",
                )
            data = {"rating": fb["rating"]}
            if "report" in fb:
                data["report"] = fb["report"]
            if "comment" in fb:
                comment = self._mask(fb["comment"])
                if comment is not None:
                    data["comment"] = comment
            fid = await loop.run_in_executor(
                None, self._store_explicit, rid, version, fb["negative"], data
            )
        except StoreError:
            log.exception("feedback on %s not stored", rid)
            return error_response(
                503,
                "feedback storage is unavailable; retry later",
                type="server_error",
                code="store_unavailable",
            )
        if fid is None:
            return error_response(
                409,
                f"request {rid!r} already has feedback; one rating per response",
                code="feedback_exists",
                param="request_id",
            )
        body = {
            "object": "feedback",
            "id": fid,
            "request_id": rid,
            "negative": fb["negative"],
        }
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    def version_of(self, rid: str) -> str | None:
        entry = self._recent.get(rid)
        if entry is None:
            return None
        return entry if isinstance(entry, str) else entry.version

    def _store_explicit(
        self, rid: str, version: str, negative: bool, data: dict[str, Any]
    ) -> int | None:
        """Store one explicit rating; None when this request already has one."""
        f = schema.feedback.c
        exists = sa.select(f.id).where(f.request_id == rid, f.kind == "explicit").limit(1)
        with self._explicit_lock:
            try:
                with self.store.engine.connect() as conn:
                    if conn.execute(exists).first() is not None:
                        return None
            except sa.exc.OperationalError as exc:
                raise StoreUnavailable(f"feedback lookup failed: {exc.orig}") from exc
            fid = self.store.add_feedback(
                rid, version, kind="explicit", negative=negative, data=data
            )
        self.counter.labels(version, "explicit", "true" if negative else "false").inc()
        return fid

    @property
    def pending(self) -> int:
        return len(self._pending)


def _comment_masker(redact: str) -> Callable[[str], str | None]:
    """Comments are free text from users: they follow `logging.redact` like prompts."""
    if redact == "drop":
        return lambda _text: None
    if redact == "pii":
        from ..safety import mask_pii

        return mask_pii
    return lambda text: text
