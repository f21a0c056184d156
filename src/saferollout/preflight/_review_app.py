"""The review page: reviewers rate blinded pairs one at a time (aiohttp, server-rendered).

Routes: `GET /` (the login form, the next pair, or "all done"), `POST /login`,
`POST /rate`, `POST /logout`, `GET /healthz`. No JavaScript: plain forms that
POST and are redirected (303) to the next pair.

Access, as the admin API: with `server.admin_token_env` set, logging in needs
the token (or an `Authorization: Bearer` header), compared in constant time;
without one only loopback clients are let in (the CLI refuses to bind
elsewhere). Sessions are random ids kept in this process (one review server,
no replicas), in an HttpOnly, SameSite=Strict cookie; every form also carries
the session's CSRF token. Model output is escaped by jinja2's autoescape and a
Content-Security-Policy forbids scripts altogether.

Bad input answers 400 (401 bad token, 403 CSRF, 409 already rated) and stores
nothing: an HTML page for browsers, the OpenAI-style JSON error for others.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import secrets
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import orjson
from aiohttp import web

from ..config import ReviewConfig
from ..store import Store
from ._review import RatingError, latest_ratings, validate_rating, validate_reviewer

COOKIE_NAME = "saferollout_review"
MAX_SESSIONS = 10_000
_LOOPBACK = ("127.0.0.1", "::1")
_TEMPLATES = Path(__file__).parent / "templates"
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass(slots=True)
class _Session:
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    reviewer: str | None = None
    created: float = field(default_factory=time.time)


class _HttpError(Exception):
    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


def _see_other() -> web.Response:
    """303 to the page: the browser GETs the next pair (no resubmit on reload)."""
    return web.Response(status=303, headers={**_HEADERS, "Location": "/"})


class ReviewApp:
    """The review web app for one review set."""

    def __init__(
        self, store: Store, set_id: str, cfg: ReviewConfig, *, token: str | None = None
    ) -> None:
        self.store = store
        self.set_id = set_id
        self.cfg = cfg
        self.token = token
        self.sessions: OrderedDict[str, _Session] = OrderedDict()
        self._lock = asyncio.Lock()  # one rating check-and-store at a time
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(_TEMPLATES),
            autoescape=True,  # every template renders model output
            undefined=jinja2.StrictUndefined,
        )
        self.app = web.Application(client_max_size=64 * 1024)
        self.app.router.add_get("/", self.index)
        self.app.router.add_post("/login", self.login)
        self.app.router.add_post("/rate", self.rate)
        self.app.router.add_post("/logout", self.logout)
        self.app.router.add_get("/healthz", self.healthz)

    # -- plumbing ----------------------------------------------------------------

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Store calls run in a worker thread so the page never blocks the loop."""
        return await asyncio.get_running_loop().run_in_executor(None, functools.partial(fn, *args))

    def _render(self, template: str, status: int = 200, **ctx: Any) -> web.Response:
        html = self.env.get_template(template).render(set_id=self.set_id, **ctx)
        return web.Response(text=html, status=status, content_type="text/html", headers=_HEADERS)

    def _error(self, request: web.Request, exc: _HttpError) -> web.Response:
        if "text/html" in request.headers.get("Accept", ""):
            return self._render(
                "review_error.html.j2", status=exc.status, message=exc.message, code=exc.code
            )
        kind = "authentication_error" if exc.status == 401 else "invalid_request_error"
        body = {"error": {"message": exc.message, "type": kind, "code": exc.code}}
        return web.Response(
            body=orjson.dumps(body), status=exc.status, content_type="application/json"
        )

    def _check_access(self, request: web.Request) -> None:
        if self.token is None and request.remote not in _LOOPBACK:
            raise _HttpError(
                403, "the review page without an admin token is for loopback only", "forbidden"
            )

    def _bearer_ok(self, request: web.Request) -> bool:
        auth = request.headers.get("Authorization", "")
        return auth.startswith("Bearer ") and self._token_ok(auth[7:])

    def _token_ok(self, given: str) -> bool:
        return self.token is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def _session(self, request: web.Request) -> tuple[str, _Session] | None:
        sid = request.cookies.get(COOKIE_NAME, "")
        session = self.sessions.get(sid)
        return None if session is None else (sid, session)

    def _new_session(self, reviewer: str | None = None) -> tuple[str, _Session]:
        sid = secrets.token_urlsafe(32)
        session = _Session(reviewer=reviewer)
        self.sessions[sid] = session
        while len(self.sessions) > MAX_SESSIONS:
            self.sessions.popitem(last=False)
        return sid, session

    @staticmethod
    def _set_cookie(response: web.StreamResponse, sid: str) -> None:
        response.set_cookie(COOKIE_NAME, sid, path="/", httponly=True, samesite="Strict")

    async def _form(self, request: web.Request, session: _Session) -> Any:
        if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
            raise _HttpError(400, "send the form as application/x-www-form-urlencoded", "bad_form")
        form = await request.post()
        given = str(form.get("csrf", ""))
        if not hmac.compare_digest(given.encode(), session.csrf.encode()):
            raise _HttpError(403, "the form is stale or forged (CSRF token mismatch)", "csrf")
        return form

    # -- routes -------------------------------------------------------------------

    async def healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "set": self.set_id})

    async def index(self, request: web.Request) -> web.Response:
        try:
            self._check_access(request)
        except _HttpError as exc:
            return self._error(request, exc)
        found = self._session(request)
        if found is None or found[1].reviewer is None:
            sid, session = found if found else self._new_session()
            response = self._render(
                "review_login.html.j2", csrf=session.csrf, needs_token=self.token is not None
            )
            if found is None:
                self._set_cookie(response, sid)
            return response
        session = found[1]
        reviewer = session.reviewer
        assert reviewer is not None
        items, ratings = await asyncio.gather(
            self._call(self.store.list_review_items, self.set_id),
            self._call(self.store.list_review_ratings, self.set_id),
        )
        kept = latest_ratings(ratings)
        mine = {r["item_id"] for r in kept if r["reviewer"] == reviewer}
        counts = Counter(r["item_id"] for r in kept)
        todo = [it for it in items if it["item_id"] not in mine]
        ctx: dict[str, Any] = {
            "csrf": session.csrf,
            "reviewer": reviewer,
            "total": len(items),
            "done": len(mine),
        }
        if not todo:
            return self._render("review_done.html.j2", **ctx)

        # Fewest ratings first (coverage, then repeats for agreement); ties in an
        # order of the reviewer's own, so reviewers do not all see the same sequence.
        def priority(it: dict[str, Any]) -> tuple[int, str]:
            mix = hashlib.sha256(f"{reviewer}\0{it['item_id']}".encode()).hexdigest()
            return (counts[it["item_id"]], mix)

        item = min(todo, key=priority)
        return self._render(
            "review.html.j2",
            item={
                "item_id": item["item_id"],
                "messages": item.get("messages", []),
                "a": item["a"],
                "b": item["b"],
            },
            harm_categories=self.cfg.harm_categories,
            **ctx,
        )

    async def login(self, request: web.Request) -> web.StreamResponse:
        try:
            self._check_access(request)
            found = self._session(request)
            if found is None:
                raise _HttpError(403, "no session: open the review page first, then log in", "csrf")
            form = await self._form(request, found[1])
            try:
                reviewer = validate_reviewer(form.get("reviewer"))
            except RatingError as exc:
                raise _HttpError(400, exc.message, "invalid_reviewer") from exc
            if self.token is not None and not (
                self._bearer_ok(request) or self._token_ok(str(form.get("token", "")))
            ):
                raise _HttpError(401, "wrong access token", "invalid_admin_token")
        except _HttpError as exc:
            return self._error(request, exc)
        # A fresh session id at login (no fixation of an id chosen before it).
        self.sessions.pop(found[0], None)
        response = _see_other()
        self._set_cookie(response, self._new_session(reviewer)[0])
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        found = self._session(request)
        if found is not None:
            try:
                await self._form(request, found[1])
            except _HttpError as exc:
                return self._error(request, exc)
            self.sessions.pop(found[0], None)
        response = _see_other()
        response.del_cookie(COOKIE_NAME, path="/")
        return response

    async def rate(self, request: web.Request) -> web.StreamResponse:
        try:
            self._check_access(request)
            found = self._session(request)
            if found is None or found[1].reviewer is None:
                raise _HttpError(401, "log in with your name first", "not_logged_in")
            session = found[1]
            reviewer = session.reviewer
            form = await self._form(request, session)
            iid = str(form.get("item_id", ""))
            items = await self._call(self.store.list_review_items, self.set_id)
            if iid not in {it["item_id"] for it in items}:
                raise _HttpError(400, f"item_id: no pair {iid[:80]!r} in this set", "unknown_item")
            try:
                rating = validate_rating(form, self.cfg.harm_categories)
            except RatingError as exc:
                raise _HttpError(400, str(exc), "invalid_rating") from exc
            stored = await self._store_once(iid, reviewer, rating)
            if not stored:
                raise _HttpError(409, "you have already rated this pair", "already_rated")
        except _HttpError as exc:
            return self._error(request, exc)
        return _see_other()

    async def _store_once(self, iid: str, reviewer: Any, rating: dict[str, Any]) -> bool:
        """Store unless this reviewer already rated the item (a resubmitted form)."""
        async with self._lock:
            ratings = await self._call(self.store.list_review_ratings, self.set_id)
            if any(r["item_id"] == iid and r["reviewer"] == reviewer for r in ratings):
                return False
            await self._call(self.store.add_review_rating, self.set_id, iid, reviewer, rating)
            return True


# -- running it ---------------------------------------------------------------------


@dataclass
class ReviewServer:
    """The review app serving from a background thread (tests, embedding)."""

    url: str
    _loop: asyncio.AbstractEventLoop
    _runner: web.AppRunner
    _thread: threading.Thread

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> ReviewServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def start_review_server(app: ReviewApp, host: str = "127.0.0.1", port: int = 0) -> ReviewServer:
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app.app, access_log=None)
    ready: dict[str, Any] = {}
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.TCPSite(runner, host, port).start())
            ready["port"] = runner.addresses[0][1]
        except BaseException as exc:  # surface start-up errors to the caller
            ready["error"] = exc
            started.set()
            return
        started.set()
        loop.run_forever()
        loop.close()

    thread = threading.Thread(target=run, name="review", daemon=True)
    thread.start()
    started.wait(30)
    if "error" in ready:
        raise ready["error"]
    return ReviewServer(f"http://{host}:{ready['port']}", loop, runner, thread)


def run_review_server(
    app: ReviewApp, host: str, port: int, on_ready: Callable[[str], None]
) -> None:
    """Serve in the foreground until SIGINT/SIGTERM."""
    web.run_app(
        app.app,
        host=host,
        port=port,
        access_log=None,
        print=lambda *_: on_ready(f"http://{host}:{port}"),
        handle_signals=True,
    )
