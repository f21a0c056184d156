"""The OpenAI-compatible gateway: routes, upstream pools, streaming, records.

The names below load on first use (PEP 562): the record-writer process runs
`python -m saferollout.gateway._record_process`, which needs only the store and
the body parsers, and must not pay for the app's imports (safety, analysis,
scipy: about a second) each time a gateway starts.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._admin import ACTIONS, RolloutControl
    from ._app import OVERRIDE_HEADER, Gateway
    from ._clients import ClientKeys, ClientKeysError
    from ._errors import RequestError, error_body
    from ._redact import make_redactor
    from ._server import GatewayHandle, new_event_loop, run_gateway, start_gateway
    from ._upstream import UpstreamConfigError
    from ._writer import RecordWriter

_WHERE = {
    "ACTIONS": "._admin",
    "RolloutControl": "._admin",
    "OVERRIDE_HEADER": "._app",
    "Gateway": "._app",
    "ClientKeys": "._clients",
    "ClientKeysError": "._clients",
    "RequestError": "._errors",
    "error_body": "._errors",
    "make_redactor": "._redact",
    "GatewayHandle": "._server",
    "new_event_loop": "._server",
    "run_gateway": "._server",
    "start_gateway": "._server",
    "UpstreamConfigError": "._upstream",
    "RecordWriter": "._writer",
}
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


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return __all__
