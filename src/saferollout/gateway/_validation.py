"""Checks of client request bodies, by hand on purpose.

They run on every request: a few isinstance checks cost well under a
microsecond, a pydantic model for the full OpenAI schema tens of them, and the
upstream validates the rest anyway. We check what the gateway itself relies
on (it reads `messages`, `prompt`, `input`, `stream`, `user`) and name the
field in the error.
"""

from __future__ import annotations

from typing import Any

import orjson

from ._errors import RequestError

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


def parse_body(raw: bytes) -> dict[str, Any]:
    if not raw:
        raise RequestError(
            400, "request body is empty; expected a JSON object", code="invalid_json"
        )
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestError(
            400, f"request body is not valid JSON: {exc}", code="invalid_json"
        ) from None
    if not isinstance(body, dict):
        raise RequestError(400, "request body must be a JSON object", code="invalid_json")
    return body


def _check_common(body: dict[str, Any]) -> None:
    if "model" in body and not isinstance(body["model"], str):
        raise _type_error("model", "a string")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise _type_error("stream", "a boolean")
    if "user" in body and not isinstance(body["user"], str):
        raise _type_error("user", "a string")


def _type_error(param: str, expected: str) -> RequestError:
    return RequestError(400, f"'{param}' must be {expected}", code="invalid_type", param=param)


def validate_chat(body: dict[str, Any]) -> None:
    _check_common(body)
    messages = body.get("messages")
    if messages is None:
        raise RequestError(
            400, "'messages' is required", code="missing_required_parameter", param="messages"
        )
    if not isinstance(messages, list) or not messages:
        raise _type_error("messages", "a non-empty array")
    for i, msg in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(msg, dict):
            raise _type_error(where, "an object")
        role = msg.get("role")
        if not isinstance(role, str) or role not in _ROLES:
            raise RequestError(
                400,
                f"'{where}.role' must be one of {', '.join(sorted(_ROLES))}",
                code="invalid_value",
                param=f"{where}.role",
            )
        content = msg.get("content")
        if content is not None and not isinstance(content, str | list):
            raise _type_error(f"{where}.content", "a string, an array of parts, or null")


def validate_completion(body: dict[str, Any]) -> None:
    _check_common(body)
    prompt = body.get("prompt")
    if prompt is None:
        raise RequestError(
            400, "'prompt' is required", code="missing_required_parameter", param="prompt"
        )
    if not isinstance(prompt, str | list):
        raise _type_error("prompt", "a string or an array")


def validate_embedding(body: dict[str, Any]) -> None:
    _check_common(body)
    value = body.get("input")
    if value is None:
        raise RequestError(
            400, "'input' is required", code="missing_required_parameter", param="input"
        )
    if not isinstance(value, str | list):
        raise _type_error("input", "a string or an array")


def messages_of(endpoint: str, body: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The conversation as chat messages, for the record and the scorers."""
    if endpoint == "chat.completions":
        return body["messages"]
    if endpoint == "completions":
        prompt = body["prompt"]
        text = prompt if isinstance(prompt, str) else "\n".join(str(p) for p in prompt)
        return [{"role": "user", "content": text}]
    return None
