"""OpenAI-shaped errors for what aiohttp answers by itself.

The router answers an unknown path (404) or method (405), and
`request.read()` refuses a body over `client_max_size` (413), with aiohttp's
plain-text bodies; an OpenAI client then shows a JSON parse error instead of
the reason. This middleware turns those into `{"error": {...}}` with the same
status and headers (e.g. `Allow`). The happy path costs one coroutine frame:
aiohttp caches the middleware chain per route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from ._errors import error_body

_CODES = {
    404: ("no route for this path", "not_found"),
    405: ("method not allowed", "method_not_allowed"),
    413: ("request body is too large", "request_too_large"),
}
# aiohttp sets these itself for the new body.
_DROP = frozenset({"Content-Type", "Content-Length"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def openai_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _as_openai(request, exc)


def _as_openai(request: web.Request, exc: web.HTTPException) -> web.Response:
    message, code = _CODES.get(exc.status, (exc.reason.lower(), "http_error"))
    if exc.status == 405:
        allowed = exc.headers.get("Allow", "")
        message = f"{request.method} is not allowed on {request.path[:200]}; allowed: {allowed}"
    elif exc.status == 404:
        message = f"no route for {request.method} {request.path[:200]}"
    headers = {k: v for k, v in exc.headers.items() if k not in _DROP}
    return web.Response(
        status=exc.status,
        body=error_body(message, code=code),
        content_type="application/json",
        headers=headers,
    )
