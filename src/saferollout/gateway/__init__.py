"""The OpenAI-compatible gateway: routes, upstream pools, streaming, records."""

from __future__ import annotations

from ._admin import ACTIONS, RolloutControl
from ._app import OVERRIDE_HEADER, Gateway
from ._clients import ClientKeys, ClientKeysError
from ._errors import RequestError, error_body
from ._redact import make_redactor
from ._server import GatewayHandle, new_event_loop, run_gateway, start_gateway
from ._upstream import UpstreamConfigError
from ._writer import RecordWriter

__all__ = [
    "ACTIONS",
    "OVERRIDE_HEADER",
    "ClientKeys",
    "ClientKeysError",
    "Gateway",
    "GatewayHandle",
    "RecordWriter",
    "RequestError",
    "RolloutControl",
    "UpstreamConfigError",
    "error_body",
    "make_redactor",
    "new_event_loop",
    "run_gateway",
    "start_gateway",
]
