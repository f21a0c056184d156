"""Who may see the dashboard: the admin token, a session cookie, or loopback.

The session cookie is `<issued-at>.<HMAC-SHA256(token, issued-at)>`: it is not
the token and does not reveal it, every replica and a restarted gateway verify
it without shared session storage, it expires on its own, and changing the
token invalidates every session. Compared in constant time.

With no token configured only loopback clients get in (the same rule as the
admin API; `serve` refuses to bind elsewhere without a token).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

from aiohttp import web

COOKIE_NAME = "saferollout_dashboard"
COOKIE_PATH = "/dashboard"
SESSION_TTL_S = 12 * 3600
_LOOPBACK = ("127.0.0.1", "::1")
_LABEL = b"saferollout-dashboard-session:"


class DashboardAuth:
    """Checks requests against the admin token and issues session cookies."""

    def __init__(
        self,
        token: str | None,
        *,
        ttl_s: float = SESSION_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token = token
        self.ttl_s = ttl_s
        self.clock = clock

    @property
    def login_required(self) -> bool:
        return self.token is not None

    def allowed(self, request: web.Request) -> bool:
        """A valid session cookie or bearer token; with no token, any loopback client."""
        if self.token is None:
            return request.remote in _LOOPBACK
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer ") and self.token_matches(auth[7:]):
            return True
        return self.session_valid(request.cookies.get(COOKIE_NAME, ""))

    def token_matches(self, given: str) -> bool:
        if self.token is None:
            return False
        return hmac.compare_digest(given.encode(), self.token.encode())

    def new_session(self) -> str:
        issued = str(int(self.clock()))
        return f"{issued}.{self._sign(issued)}"

    def session_valid(self, value: str) -> bool:
        if self.token is None or "." not in value:
            return False
        issued, _, signature = value.partition(".")
        if not issued.isdigit():
            return False
        if not hmac.compare_digest(signature.encode(), self._sign(issued).encode()):
            return False
        age = self.clock() - int(issued)
        return -60 <= age <= self.ttl_s  # a minute of clock skew between replicas

    def set_cookie(self, response: web.StreamResponse) -> None:
        response.set_cookie(
            COOKIE_NAME,
            self.new_session(),
            max_age=int(self.ttl_s),
            path=COOKIE_PATH,
            httponly=True,
            samesite="Strict",
        )

    def clear_cookie(self, response: web.StreamResponse) -> None:
        response.del_cookie(COOKIE_NAME, path=COOKIE_PATH)

    def _sign(self, issued: str) -> str:
        assert self.token is not None
        return hmac.new(self.token.encode(), _LABEL + issued.encode(), hashlib.sha256).hexdigest()
