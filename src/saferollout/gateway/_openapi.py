"""An OpenAPI 3.1 description of the gateway's HTTP surface, served at GET /openapi.json.

Written by hand, as data: the routes are few, and the request schemas must
say what the gateway itself checks (`_validation.py`, `_feedback.py`,
`_admin.py`), no more. Chat, completion and embedding bodies are passed
through to the model server, so they allow any other field
(`additionalProperties: true`); the model server judges those. The tests in
`tests/fuzz/` generate valid and invalid requests from this description and
hold the gateway to it (no 5xx, every 4xx in OpenAI's error shape), which
keeps it honest.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
from aiohttp import web

from ..config import RolloutConfig
from ._admin import ACTIONS

_JSON = "application/json"
_ERROR_REF = {"$ref": "#/components/schemas/Error"}
_ADMIN: list[dict[str, list[str]]] = [{"adminToken": []}]
_ANY_OBJECT: dict[str, Any] = {"type": "object"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": _ERROR_REF}}}


def _ok(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _body(schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {_JSON: {"schema": schema}}}


_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "description": "OpenAI's error shape: clients built for OpenAI show `error.message`.",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["message", "type", "code"],
                "properties": {
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                    "code": {"type": ["string", "null"]},
                    "param": {"type": ["string", "null"]},
                },
            }
        },
    },
    "Message": {
        "type": "object",
        "required": ["role"],
        "properties": {
            "role": {
                "enum": ["system", "developer", "user", "assistant", "tool", "function"],
            },
            "content": {"type": ["string", "array", "null"]},
        },
        "additionalProperties": True,
    },
    "ChatCompletionRequest": {
        "type": "object",
        "required": ["messages"],
        "properties": {
            "model": {
                "type": "string",
                "description": "Replaced by the assigned version's configured model.",
            },
            "messages": {
                "type": "array",
                "minItems": 1,
                "items": {"$ref": "#/components/schemas/Message"},
            },
            "stream": {"type": "boolean"},
            "user": {"type": "string", "description": "A sticky key when configured."},
        },
        "additionalProperties": True,
    },
    "CompletionRequest": {
        "type": "object",
        "required": ["prompt"],
        "properties": {
            "model": {"type": "string"},
            "prompt": {"type": ["string", "array"]},
            "stream": {"type": "boolean"},
            "user": {"type": "string"},
        },
        "additionalProperties": True,
    },
    "EmbeddingRequest": {
        "type": "object",
        "required": ["input"],
        "properties": {
            "model": {"type": "string"},
            "input": {"type": ["string", "array"]},
            "user": {"type": "string"},
        },
        "additionalProperties": True,
    },
    "ModelAnswer": {
        "type": "object",
        "description": "The model server's answer, passed through (or a guardrail's block).",
    },
    "ModelList": {
        "type": "object",
        "required": ["object", "data"],
        "properties": {
            "object": {"const": "list"},
            "data": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "object", "owned_by"],
                    "properties": {
                        "id": {"type": "string"},
                        "object": {"const": "model"},
                        "created": {"type": "integer"},
                        "owned_by": {"type": "string"},
                    },
                },
            },
        },
    },
    "FeedbackRequest": {
        "type": "object",
        "required": ["request_id", "rating"],
        "properties": {
            "request_id": {
                "type": "string",
                "minLength": 1,
                "maxLength": 64,
                "description": "The X-Request-Id header of a response from this gateway.",
            },
            "rating": {
                "oneOf": [
                    {"enum": ["up", "down"]},
                    {"type": "integer", "minimum": 1, "maximum": 5},
                ],
                "description": "Negative: down, 1 or 2.",
            },
            "report": {
                "enum": ["harmful", "pii", "refusal", "incorrect", "bias", "other"],
                "description": "A complaint: always negative.",
            },
            "comment": {"type": "string", "maxLength": 2000},
        },
        "additionalProperties": False,
    },
    "FeedbackStored": {
        "type": "object",
        "required": ["object", "id", "request_id", "negative"],
        "properties": {
            "object": {"const": "feedback"},
            "id": {"type": "integer"},
            "request_id": {"type": "string"},
            "negative": {"type": "boolean"},
        },
    },
    "AdminAction": {
        "type": "object",
        "properties": {
            "full": {
                "type": "boolean",
                "description": "promote/switch: skip the remaining steps or the analysis gate.",
            },
            "reason": {"type": "string", "description": "Kept in the audit event (500 chars)."},
        },
        "additionalProperties": True,
    },
    "RolloutSnapshot": {
        "type": "object",
        "required": ["rollout", "weights", "steps", "judgement"],
        "properties": {
            "rollout": _ANY_OBJECT,
            "weights": {"type": "object", "additionalProperties": {"type": "number"}},
            "steps": {"type": "array"},
            "judgement": {"type": ["object", "null"]},
            "replica": _ANY_OBJECT,
        },
    },
    "Analysis": {
        "type": "object",
        "required": ["rollout", "phase", "decision", "healthy", "failing", "verdicts"],
        "properties": {
            "rollout": {"type": "string"},
            "phase": {"type": "string"},
            "decision": {"type": "string"},
            "healthy": {"type": "boolean"},
            "failing": {"type": "array", "items": {"type": "string"}},
            "reason": {"type": "string"},
            "verdicts": {"type": "array", "items": _ANY_OBJECT},
        },
    },
    "FlaggerWebhook": {
        "type": "object",
        "description": "Flagger's webhook payload; it cannot send headers, so the admin "
        "token may come as `metadata.token`.",
        "properties": {
            "name": {"description": "Not read."},
            "namespace": {"description": "Not read."},
            "phase": {"description": "Not read."},
            "metadata": {
                "type": ["object", "null"],
                "properties": {
                    "token": {"type": ["string", "null"]},
                    "gate": {"enum": ["health", "promotion"]},
                },
                "additionalProperties": True,
            },
        },
        "additionalProperties": True,
    },
}


_READY = {
    "type": "object",
    "required": ["ready", "writer", "store"],
    "properties": {
        "ready": {"type": "boolean"},
        "writer": {"type": "boolean"},
        "store": {"type": "boolean"},
    },
}


def _v1_headers(config: RolloutConfig) -> list[dict[str, Any]]:
    """Header parameters of the proxied routes: sticky keys and the version override."""
    return [
        {
            "name": "X-Session-Id",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": "Sticky key (first found: X-Session-Id, X-User-Id, body `user`).",
        },
        {
            "name": "X-User-Id",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
        },
        {
            "name": "X-Rollout-Version",
            "in": "header",
            "required": False,
            "schema": {"enum": sorted(config.versions)},
            "description": "Force a version; needs `Authorization: Bearer <admin token>` "
            "(else 403 override_not_allowed; an unknown version is 400).",
        },
    ]


_RESPONSE_HEADERS = {
    "X-Request-Id": {"schema": {"type": "string"}, "description": "The gateway's request id."},
    "X-Rollout-Version": {
        "schema": {"type": "string"},
        "description": "The version that answered; `none` when refused before routing.",
    },
}


def _proxied(
    config: RolloutConfig, summary: str, request: str, *, streams: bool, clients: bool
) -> dict[str, Any]:
    content: dict[str, Any] = {_JSON: {"schema": {"$ref": "#/components/schemas/ModelAnswer"}}}
    if streams:
        # OpenAPI 3.1: the schema of an event stream describes one event.
        content["text/event-stream"] = {
            "schema": {
                "type": "object",
                "required": ["data"],
                "properties": {"data": {"type": "string"}},
            },
            "description": "`stream: true`: the model server's SSE events as they come "
            "(`data:` a chunk as JSON, or `[DONE]`).",
        }
    responses: dict[str, Any] = {
        "200": {
            "description": "The model's answer",
            "headers": _RESPONSE_HEADERS,
            "content": content,
        },
        "400": _error("Bad JSON, a missing or mistyped field, or an unknown forced version"),
        "403": _error("X-Rollout-Version without the admin token"),
        "413": _error("Body over server.max_body_bytes"),
        "4XX": _error("The model server's own 4xx, passed through"),
        "502": _error("The version could not be reached, or broke the connection"),
        "503": _error("server.max_in_flight requests already in flight (see Retry-After)"),
        "504": _error("The version did not answer in time"),
        "5XX": _error("The model server's own 5xx, passed through"),
    }
    op: dict[str, Any] = {
        "summary": summary,
        "parameters": _v1_headers(config),
        "requestBody": _body({"$ref": f"#/components/schemas/{request}"}),
        "responses": responses,
    }
    if clients:
        _client_keys(op)
        responses["403"] = _error(
            "X-Rollout-Version without the admin token, or no version the client key may use"
        )
    return op


def _client_keys(op: dict[str, Any]) -> None:
    """With `clients:` configured, every /v1 route needs a client key (or the admin token)."""
    op["security"] = [{"clientKey": []}, {"adminToken": []}]
    op["responses"]["401"] = _error("Missing or unknown client key")
    op["responses"]["429"] = _error("Over the client key's rate limit (see Retry-After)")


def _admin_responses(ok: dict[str, Any], **more: dict[str, Any]) -> dict[str, Any]:
    return {
        "200": ok,
        **more,
        "401": _error("Missing or wrong admin token"),
        "503": _error("No controller runs here, or it could not act (try again)"),
    }


def openapi_spec(config: RolloutConfig) -> dict[str, Any]:
    """The gateway's routes as OpenAPI 3.1, named from `config` (server, versions)."""
    clients = config.clients is not None
    snapshot = _ok({"$ref": "#/components/schemas/RolloutSnapshot"})
    analysis = {"$ref": "#/components/schemas/Analysis"}
    v1: dict[str, Any] = {
        "/v1/chat/completions": {
            "post": _proxied(
                config,
                "OpenAI chat completions",
                "ChatCompletionRequest",
                streams=True,
                clients=clients,
            )
        },
        "/v1/completions": {
            "post": _proxied(
                config, "OpenAI completions", "CompletionRequest", streams=True, clients=clients
            )
        },
        "/v1/embeddings": {
            "post": _proxied(
                config, "OpenAI embeddings", "EmbeddingRequest", streams=False, clients=clients
            )
        },
        "/v1/models": {
            "get": {
                "summary": "Every configured version's model",
                "responses": {"200": _ok({"$ref": "#/components/schemas/ModelList"})},
            }
        },
        "/v1/feedback": {
            "post": {
                "summary": "A user's rating of one answer, by its X-Request-Id",
                "requestBody": _body({"$ref": "#/components/schemas/FeedbackRequest"}),
                "responses": {
                    "200": _ok({"$ref": "#/components/schemas/FeedbackStored"}),
                    "400": _error("A field is missing, unknown or invalid"),
                    "404": _error("No interaction with this request_id"),
                    "409": _error("This answer already has feedback"),
                    "413": _error("Body over server.max_body_bytes"),
                    "503": _error("Feedback storage is unavailable; retry later"),
                },
            }
        },
    }
    if clients:
        _client_keys(v1["/v1/models"]["get"])
        _client_keys(v1["/v1/feedback"]["post"])
    ops: dict[str, Any] = {
        "/healthz": {
            "get": {
                "summary": "The process answers",
                "responses": {"200": _ok({"type": "object", "required": ["status"]})},
            }
        },
        "/readyz": {
            "get": {
                "summary": "The record writer runs and the store answers",
                "responses": {
                    "200": _ok(_READY),
                    "503": _ok(_READY, "Not ready: the writer or the store is down"),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus exposition",
                "responses": {
                    "200": {
                        "description": "Prometheus text format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This description",
                "responses": {"200": _ok(_ANY_OBJECT)},
            }
        },
        "/admin/rollout": {
            "get": {
                "summary": "The rollout's state, weights, steps and last judgement",
                "security": _ADMIN,
                "responses": _admin_responses(snapshot),
            }
        },
        "/admin/rollout/{action}": {
            "post": {
                "summary": "Steer the rollout (audited)",
                "security": _ADMIN,
                "parameters": [
                    {
                        "name": "action",
                        "in": "path",
                        "required": True,
                        "schema": {"enum": list(ACTIONS)},
                    },
                    {
                        "name": "X-Actor",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string"},
                        "description": "Who acts, for the audit event (64 chars).",
                    },
                ],
                "requestBody": _body({"$ref": "#/components/schemas/AdminAction"}, required=False),
                "responses": _admin_responses(
                    snapshot,
                    **{
                        "400": _error("The body is not a JSON object, or a field has a wrong type"),
                        "404": _error("Unknown action"),
                        "409": _error("The rollout's phase does not allow this action"),
                        "413": _error("Body over server.max_body_bytes"),
                    },
                ),
            }
        },
        "/admin/analysis": {
            "get": {
                "summary": "Verdicts (Argo Rollouts web metric: jsonPath {$.healthy})",
                "security": _ADMIN,
                "responses": _admin_responses(_ok(analysis)),
            }
        },
        "/admin/flagger/check": {
            "post": {
                "summary": "Flagger webhook gate: 200 goes on, 412 fails the check",
                "security": [{"adminToken": []}, {}],
                "requestBody": _body(
                    {"$ref": "#/components/schemas/FlaggerWebhook"}, required=False
                ),
                "responses": _admin_responses(
                    _ok(analysis),
                    **{
                        "400": _error("The body is not JSON, or metadata.gate is unknown"),
                        "412": _ok(analysis, "The gate is closed: a trigger fails"),
                        "413": _error("Body over server.max_body_bytes"),
                    },
                ),
            }
        },
        "/admin/events": {
            "get": {
                "summary": "The rollout's audit events, oldest first",
                "security": _ADMIN,
                "parameters": [
                    {
                        "name": "after",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
                        "description": "Only events with a larger id.",
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1},
                        "description": "At most this many (default 200, capped at 1000).",
                    },
                ],
                "responses": _admin_responses(
                    _ok(
                        {
                            "type": "object",
                            "required": ["events"],
                            "properties": {"events": {"type": "array", "items": _ANY_OBJECT}},
                        }
                    ),
                    **{"400": _error("'after' or 'limit' is not an integer in range")},
                ),
            }
        },
        "/admin/sessions": {
            "get": {
                "summary": "Conversation ids a version answered (who met a rolled-back one)",
                "security": _ADMIN,
                "parameters": [
                    {
                        "name": "version",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "minLength": 1},
                        "description": "A version name (also one no longer configured).",
                    }
                ],
                "responses": _admin_responses(
                    _ok(
                        {
                            "type": "object",
                            "required": ["version", "sessions"],
                            "properties": {
                                "version": {"type": "string"},
                                "sessions": {"type": "array", "items": {"type": "string"}},
                            },
                        }
                    ),
                    **{"400": _error("'version' is missing")},
                ),
            }
        },
    }
    server = config.server
    schemes: dict[str, Any] = {
        "adminToken": {
            "type": "http",
            "scheme": "bearer",
            "description": "The admin token (server.admin_token_env). With none configured, "
            "admin routes answer loopback clients only.",
        }
    }
    if clients:
        schemes["clientKey"] = {
            "type": "http",
            "scheme": "bearer",
            "description": "A client key from `clients.keys`.",
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"saferollout gateway ({config.name})",
            "version": "1",
            "description": "OpenAI-compatible routes in front of the versions "
            f"{', '.join(config.versions)}, and the operator's admin API. Every error "
            'is OpenAI\'s shape: {"error": {"message", "type", "code", "param"}}.',
        },
        "servers": [{"url": f"http://{server.host}:{server.port}"}],
        "paths": {**v1, **ops},
        "components": {"schemas": copy.deepcopy(_SCHEMAS), "securitySchemes": schemes},
    }


def add_openapi_route(app: web.Application, config: RolloutConfig) -> None:
    """Serve the description at GET /openapi.json (built once, served as bytes)."""
    body = orjson.dumps(openapi_spec(config))

    async def serve(_request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app.router.add_get("/openapi.json", serve)
