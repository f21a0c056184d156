"""The dashboard's HTTP routes, added to the gateway's aiohttp app by the CLI.

`/dashboard` (the page), `/dashboard/login`, `/dashboard/logout`,
`/dashboard/api/live` (JSON the page polls) and `/dashboard/static/{name}`
(the vendored uPlot: no CDN). The gateway does not import this module; the
runtime composes them (`add_dashboard(gateway.app, ...)` before the app starts).

Everything it reads comes from a worker thread (store queries, the
controller's snapshot), cached for two seconds so that several open dashboards
cost one query set per two seconds, and never from the gateway's event loop.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from functools import lru_cache
from typing import Any, Protocol

import orjson
from aiohttp import web

from ..assets import UPLOT_CSS, UPLOT_JS, read_asset
from ..config import RolloutConfig
from ..store import Store
from ._dashboard_auth import DashboardAuth
from ._dashboard_data import DashboardData, collect
from ._dashboard_view import clock, render_error, render_login, render_page, render_sections

log = logging.getLogger("saferollout.dashboard")

_STATIC = {UPLOT_JS: "application/javascript", UPLOT_CSS: "text/css"}


class SnapshotSource(Protocol):
    """What the dashboard needs of the controller (the gateway's RolloutControl has it)."""

    def snapshot(self) -> dict[str, Any]: ...


def add_dashboard(
    app: web.Application,
    store: Store,
    control: SnapshotSource,
    config: RolloutConfig,
    *,
    admin_token: str | None = None,
    refresh_s: float = 3.0,
) -> Dashboard:
    """Serve the dashboard from `app` (call before the app starts)."""
    dashboard = Dashboard(store, control, config, admin_token=admin_token, refresh_s=refresh_s)
    dashboard.register(app)
    return dashboard


@lru_cache(maxsize=len(_STATIC))
def _asset(name: str) -> bytes:
    return read_asset(name).encode()


def _security_headers(nonce: str | None = None) -> dict[str, str]:
    script = f"'self' 'nonce-{nonce}'" if nonce else "'self'"
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; script-src {script}; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; connect-src 'self'; form-action 'self'; "
            "base-uri 'none'; frame-ancestors 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


def _html(body: str, *, status: int = 200, nonce: str | None = None) -> web.Response:
    return web.Response(
        text=body, status=status, content_type="text/html", headers=_security_headers(nonce)
    )


def _see_other(location: str) -> web.Response:
    # A plain response, not web.HTTPSeeOther: returning an HTTPException is deprecated.
    return web.Response(status=303, headers={**_security_headers(), "Location": location})


def _json_error(status: int, message: str, *, type: str, code: str) -> web.Response:
    body = {"error": {"message": message, "type": type, "code": code, "param": None}}
    return web.Response(
        body=orjson.dumps(body),
        status=status,
        content_type="application/json",
        headers=_security_headers(),
    )


class Dashboard:
    def __init__(
        self,
        store: Store,
        control: SnapshotSource,
        config: RolloutConfig,
        *,
        admin_token: str | None = None,
        refresh_s: float = 3.0,
        cache_s: float = 2.0,
    ) -> None:
        self.store = store
        self.control = control
        self.config = config
        self.auth = DashboardAuth(admin_token)
        self.refresh_s = refresh_s
        self.cache_s = cache_s
        self._triggers: list[str] = [t.metric for t in config.triggers]
        self._cached: tuple[float, DashboardData] | None = None
        self._lock = asyncio.Lock()

    def register(self, app: web.Application) -> None:
        app.router.add_get("/dashboard", self.page)
        app.router.add_post("/dashboard/login", self.login)
        app.router.add_post("/dashboard/logout", self.logout)
        app.router.add_get("/dashboard/api/live", self.live)
        app.router.add_get("/dashboard/static/{name}", self.static)

    # -- data ------------------------------------------------------------------

    def _collect(self) -> DashboardData:
        return collect(
            self.store,
            self.control.snapshot(),
            triggers=self._triggers,
            redact=self.config.logging.redact,
        )

    async def data(self) -> DashboardData:
        """The current data, at most `cache_s` old; read in a worker thread."""
        async with self._lock:
            cached = self._cached
            if cached is not None and time.monotonic() - cached[0] < self.cache_s:
                return cached[1]
            loop = asyncio.get_running_loop()
            fresh = await loop.run_in_executor(None, self._collect)
            self._cached = (time.monotonic(), fresh)
            return fresh

    async def _data_or_error(self) -> DashboardData | str:
        try:
            return await self.data()
        except Exception as exc:  # the store is away: say so, keep serving
            log.warning("dashboard data unavailable: %s", type(exc).__name__)
            return f"The store did not answer ({type(exc).__name__}); retrying."

    # -- routes ----------------------------------------------------------------

    def _refused(self, request: web.Request) -> web.Response | None:
        """None when the request may see the dashboard; else the page to answer with."""
        if self.auth.allowed(request):
            return None
        nonce = secrets.token_urlsafe(16)
        if not self.auth.login_required:
            return _html(
                render_error(
                    "No admin token is configured, so the dashboard answers loopback clients only.",
                    nonce=nonce,
                ),
                status=403,
                nonce=nonce,
            )
        return _html(render_login(nonce=nonce), status=401, nonce=nonce)

    async def page(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        nonce = secrets.token_urlsafe(16)
        data = await self._data_or_error()
        if isinstance(data, str):
            return _html(render_error(data, nonce=nonce), status=503, nonce=nonce)
        body = render_page(
            data, nonce=nonce, refresh_s=self.refresh_s, login_required=self.auth.login_required
        )
        return _html(body, nonce=nonce)

    async def login(self, request: web.Request) -> web.Response:
        if not self.auth.login_required:
            return _see_other("/dashboard")
        form = await request.post()
        token = form.get("token")
        nonce = secrets.token_urlsafe(16)
        if not isinstance(token, str) or not token:
            return _html(
                render_login(error="Enter the admin token.", nonce=nonce), status=400, nonce=nonce
            )
        if not self.auth.token_matches(token):
            log.warning("dashboard login refused from %s", request.remote)
            return _html(render_login(error="Wrong token.", nonce=nonce), status=401, nonce=nonce)
        response = _see_other("/dashboard")
        self.auth.set_cookie(response)
        return response

    async def logout(self, _request: web.Request) -> web.Response:
        response = _see_other("/dashboard")
        self.auth.clear_cookie(response)
        return response

    async def live(self, request: web.Request) -> web.Response:
        """What the page's refresh script swaps in: section HTML, chart data, raw values."""
        if not self.auth.allowed(request):
            return _json_error(
                401,
                "the dashboard API needs a dashboard session or "
                "'Authorization: Bearer <admin token>'",
                type="authentication_error",
                code="invalid_admin_token",
            )
        data = await self._data_or_error()
        if isinstance(data, str):
            return _json_error(503, data, type="server_error", code="store_unavailable")
        body = {
            "generated_at": data.generated_at,
            "updated": clock(data.generated_at),
            "roles": {"stable": data.stable, "candidate": data.candidate},
            "phase": data.snapshot["rollout"]["phase"],
            "weights": data.snapshot["weights"],
            "counts": data.counts,
            "comparison": data.comparison,
            "series": data.series,
            "html": render_sections(data),
        }
        return web.Response(
            body=orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS),
            content_type="application/json",
            headers=_security_headers(),
        )

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in _STATIC:
            raise web.HTTPNotFound()
        return web.Response(
            body=_asset(name),
            content_type=_STATIC[name],
            headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
        )
