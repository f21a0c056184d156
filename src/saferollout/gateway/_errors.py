"""OpenAI-style error responses: {"error": {"message", "type", "code", "param"}}.

Clients built for OpenAI show `error.message`, so every message names the
field or the limit at fault.
"""

from __future__ import annotations

import orjson
from aiohttp import web


class RequestError(Exception):
    """A client request we refuse, with the status and body to answer with."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param

    def body(self) -> bytes:
        return error_body(self.message, type=self.type, code=self.code, param=self.param)


def error_body(
    message: str,
    *,
    type: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": type, "code": code, "param": param}})


def error_response(
    status: int,
    message: str,
    *,
    type: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    return web.Response(
        status=status,
        body=error_body(message, type=type, code=code, param=param),
        content_type="application/json",
        headers=headers,
    )
