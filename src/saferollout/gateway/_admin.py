"""Operator routes: /admin/rollout, /admin/analysis, /admin/events, sessions.

They drive whatever implements `RolloutControl` (the rollout controller), so
the gateway does not import the controller: the CLI wires one to the other.
Every route needs the admin bearer token, compared in constant time; with no
token configured, only loopback clients are let in (and `serve` refuses to
bind elsewhere).
"""

from __future__ import annotations

import hmac
import logging
from typing import Any, Protocol

import orjson
from aiohttp import web

from ..store import Store
from ._errors import error_response

log = logging.getLogger("saferollout.gateway")
ACTIONS = ("promote", "pause", "resume", "abort", "rollback", "switch")
_LOOPBACK = ("127.0.0.1", "::1")


class RolloutControl(Protocol):
    def snapshot(self) -> dict[str, Any]: ...

    def act(self, action: str, *, actor: str, full: bool = False, reason: str = "") -> Any:
        """Raise ValueError (with a message for the operator) for a refused action."""
        ...


def is_admin(request: web.Request, token: str | None) -> bool:
    if token is None:
        return request.remote in _LOOPBACK
    auth = request.headers.get("Authorization", "")
    if not auth.startswith("Bearer "):
        return False
    # aiohttp decodes header bytes with surrogateescape: encode them back the same way.
    return hmac.compare_digest(auth[7:].encode("utf-8", "surrogateescape"), token.encode())


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


class AdminRoutes:
    def __init__(self, store: Store, rollout_name: str, token: str | None) -> None:
        self.store = store
        self.rollout_name = rollout_name
        self.token = token
        self.control: RolloutControl | None = None

    def register(self, app: web.Application) -> None:
        app.router.add_get("/admin/rollout", self.rollout)
        app.router.add_post("/admin/rollout/{action}", self.action)
        app.router.add_get("/admin/analysis", self.analysis)
        app.router.add_post("/admin/flagger/check", self.flagger_check)
        app.router.add_get("/admin/events", self.events)
        app.router.add_get("/admin/sessions", self.sessions)

    def _check(
        self, request: web.Request, *, authorized: bool | None = None
    ) -> web.Response | RolloutControl:
        """The controller, or the error answer (`authorized`: decided by the caller)."""
        if not (is_admin(request, self.token) if authorized is None else authorized):
            return error_response(
                401,
                "admin routes need 'Authorization: Bearer <admin token>'",
                type="authentication_error",
                code="invalid_admin_token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if self.control is None:
            return error_response(
                503, "no rollout controller runs here", type="server_error", code="no_controller"
            )
        return self.control

    async def rollout(self, request: web.Request) -> web.Response:
        control = self._check(request)
        if isinstance(control, web.Response):
            return control
        return _json(await _in_thread(control.snapshot))

    async def action(self, request: web.Request) -> web.Response:
        control = self._check(request)
        if isinstance(control, web.Response):
            return control
        action = request.match_info["action"]
        if action not in ACTIONS:
            return error_response(
                404,
                f"unknown action {action!r}; one of {', '.join(ACTIONS)}",
                code="unknown_action",
            )
        options: dict[str, Any] = {}
        raw = await request.read()
        if raw.strip():
            try:
                options = orjson.loads(raw)
            except orjson.JSONDecodeError:
                return error_response(400, "body must be a JSON object", code="invalid_json")
            if not isinstance(options, dict):
                return error_response(400, "body must be a JSON object", code="invalid_json")
        full = options.get("full", False)
        reason = options.get("reason", "")
        if not isinstance(full, bool):
            return error_response(
                400, "'full' must be a boolean", code="invalid_type", param="full"
            )
        if not isinstance(reason, str):
            return error_response(
                400, "'reason' must be a string", code="invalid_type", param="reason"
            )
        actor = "admin:" + str(request.headers.get("X-Actor", request.remote or "unknown"))[:64]
        # In a thread: the action writes to the store, and on a replica that does
        # not lead it waits for the leader to run it.
        try:
            await _in_thread(control.act, action, actor=actor, full=full, reason=reason[:500])
        except ValueError as exc:
            return error_response(409, str(exc), code="invalid_transition")
        except TimeoutError as exc:
            return error_response(503, str(exc), type="server_error", code="no_leader")
        except Exception as exc:  # the store away, or the leader failed: nothing changed here
            log.exception("admin action %s failed", action)
            return error_response(
                503,
                f"the controller could not {action} ({type(exc).__name__}); try again",
                type="server_error",
                code="controller_unavailable",
            )
        return _json(await _in_thread(control.snapshot))

    async def analysis(self, request: web.Request) -> web.Response:
        """Verdicts for Argo Rollouts' web metric provider (`jsonPath: "{$.healthy}"`)."""
        control = self._check(request)
        if isinstance(control, web.Response):
            return control
        return _json(self._analysis(await _in_thread(control.snapshot)))

    async def flagger_check(self, request: web.Request) -> web.Response:
        """A Flagger webhook: 200 lets the canary go on, any other status counts as a failure.

        Flagger posts `{"name", "namespace", "phase", "metadata": {...}}` and cannot
        send headers, so the token may come as `metadata.token` (compared in
        constant time like the header). `metadata.gate: promotion` (for a
        confirm-promotion webhook) answers 200 only when the analysis says advance;
        the default answers 200 while no trigger fails.
        """
        try:
            body = orjson.loads(await request.read() or b"{}")
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            return error_response(
                400, "body must be a JSON object (Flagger's webhook payload)", code="invalid_json"
            )
        metadata = body.get("metadata")
        metadata = {} if metadata is None else metadata
        if not isinstance(metadata, dict):
            return error_response(
                400, "'metadata' must be an object", code="invalid_type", param="metadata"
            )
        token = metadata.get("token")
        if token is not None and not isinstance(token, str):
            return error_response(
                400,
                "'metadata.token' must be a string",
                code="invalid_type",
                param="metadata.token",
            )
        authorized = None
        if self.token is not None and isinstance(token, str):
            authorized = hmac.compare_digest(token.encode(), self.token.encode())
        control = self._check(request, authorized=authorized)
        if isinstance(control, web.Response):
            return control
        gate = metadata.get("gate", "health")
        if gate not in ("health", "promotion"):
            return error_response(
                400,
                "metadata.gate must be 'health' or 'promotion'",
                code="invalid_value",
                param="metadata.gate",
            )
        doc = self._analysis(await _in_thread(control.snapshot))
        ok = doc["healthy"] and (gate == "health" or doc["decision"] == "advance")
        return _json(doc, status=200 if ok else 412)

    def _analysis(self, snap: dict[str, Any]) -> dict[str, Any]:
        judgement = snap.get("judgement") or {
            "decision": "hold",
            "verdicts": [],
            "reason": "no analysis yet",
        }
        failing = [
            v["metric"] for v in judgement["verdicts"] if v["status"] == "FAIL" and not v["dry_run"]
        ]
        return {
            "rollout": self.rollout_name,
            "phase": snap["rollout"]["phase"],
            "decision": judgement["decision"],
            "healthy": not failing and snap["rollout"]["phase"] != "rolled_back",
            "failing": failing,
            "reason": judgement.get("reason", ""),
            "verdicts": judgement["verdicts"],
        }

    async def events(self, request: web.Request) -> web.Response:
        if not is_admin(request, self.token):
            return error_response(
                401, "admin token required", type="authentication_error", code="invalid_admin_token"
            )
        try:
            after = int(request.query.get("after", "0"))
            limit = int(request.query.get("limit", "200"))
        except ValueError:
            return error_response(400, "'after' and 'limit' must be integers", code="invalid_type")
        # Bounded before the query: a database integer is 64-bit, and a negative
        # LIMIT means "no limit" on SQLite but an error on PostgreSQL.
        if not 0 <= after < 2**63:
            return error_response(
                400,
                f"'after' must be an event id from 0 to {2**63 - 1}",
                code="invalid_value",
                param="after",
            )
        if limit < 1:
            return error_response(
                400, "'limit' must be 1 or more", code="invalid_value", param="limit"
            )
        limit = min(limit, 1000)
        events = await _in_thread(
            self.store.list_events, self.rollout_name, after_id=after, limit=limit
        )
        return _json({"events": events})

    async def sessions(self, request: web.Request) -> web.Response:
        """Conversations that saw a version (after a rollback: who met the bad one)."""
        if not is_admin(request, self.token):
            return error_response(
                401, "admin token required", type="authentication_error", code="invalid_admin_token"
            )
        version = request.query.get("version")
        if not version:
            return error_response(
                400, "'version' query parameter is required", code="missing_required_parameter"
            )
        sessions = await _in_thread(self.store.sessions_of, version)
        return _json({"version": version, "sessions": sessions})


async def _in_thread(fn: Any, *args: Any, **kwargs: Any) -> Any:
    import asyncio
    import functools

    return await asyncio.get_running_loop().run_in_executor(
        None, functools.partial(fn, *args, **kwargs)
    )
