"""OpenAI wire format for the simulated servers: request checks and response bodies.

Kept apart from the behaviour (_backend.py) so that the shapes the `openai`
client and the gateway rely on are in one place. Streamed chunks are built
from byte templates because a server under benchmark load writes hundreds of
them per answer.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import orjson

from ._responses import count_tokens

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


class RequestError(Exception):
    """A request the server rejects with an OpenAI-style 4xx error."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.code = code
        self.param = param


def error_body(message: str, type: str, code: str | None = None, param: str | None = None) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": type, "param": param, "code": code}})


@dataclass(frozen=True, slots=True)
class ChatRequest:
    messages: list[dict[str, Any]]
    model: str | None
    stream: bool
    include_usage: bool
    max_tokens: int | None

    @property
    def last_user_text(self) -> str:
        for m in reversed(self.messages):
            if m.get("role") == "user":
                return message_text(m.get("content"))
        return message_text(self.messages[-1].get("content"))

    def prompt_tokens(self) -> int:
        return sum(count_tokens(message_text(m.get("content"))) + 3 for m in self.messages)


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    prompts: list[str]
    model: str | None
    stream: bool
    include_usage: bool
    max_tokens: int | None


@dataclass(frozen=True, slots=True)
class EmbeddingRequest:
    inputs: list[str]
    model: str | None
    dimensions: int | None
    encoding_format: str


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"request body is not valid JSON: {exc}", code="invalid_json") from exc
    if not isinstance(data, dict):
        raise RequestError("request body must be a JSON object", code="invalid_json")
    return data


def message_text(content: Any) -> str:
    """Text of a message's content: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def _common(data: dict[str, Any]) -> tuple[str | None, bool, bool, int | None]:
    model = data.get("model")
    if model is not None and not isinstance(model, str):
        raise RequestError("'model' must be a string", param="model")
    stream = data.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise RequestError("'stream' must be a boolean", param="stream")
    options = data.get("stream_options") or {}
    if not isinstance(options, dict):
        raise RequestError("'stream_options' must be an object", param="stream_options")
    max_tokens = data.get("max_completion_tokens", data.get("max_tokens"))
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        raise RequestError("'max_tokens' must be a positive integer", param="max_tokens")
    return model, bool(stream), bool(options.get("include_usage")), max_tokens


def parse_chat(data: dict[str, Any]) -> ChatRequest:
    messages = data.get("messages")
    if messages is None:
        raise RequestError("'messages' is a required property", param="messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("'messages' must be a non-empty array", param="messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise RequestError(f"'messages[{i}]' must be an object", param=f"messages[{i}]")
        if m.get("role") not in ROLES:
            raise RequestError(
                f"'messages[{i}].role' must be one of {sorted(ROLES)}",
                param=f"messages[{i}].role",
            )
        content = m.get("content")
        if content is not None and not isinstance(content, str | list):
            raise RequestError(
                f"'messages[{i}].content' must be a string or an array of content parts",
                param=f"messages[{i}].content",
            )
    model, stream, include_usage, max_tokens = _common(data)
    return ChatRequest(messages, model, stream, include_usage, max_tokens)


def parse_completion(data: dict[str, Any]) -> CompletionRequest:
    prompt = data.get("prompt")
    if isinstance(prompt, str):
        prompts = [prompt]
    elif isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        prompts = list(prompt)
    elif isinstance(prompt, list) and prompt and all(isinstance(p, int) for p in prompt):
        prompts = [" ".join(map(str, prompt))]  # token ids: opaque text for the simulator
    elif prompt is None:
        raise RequestError("'prompt' is a required property", param="prompt")
    else:
        raise RequestError("'prompt' must be a string or an array of strings", param="prompt")
    model, stream, include_usage, max_tokens = _common(data)
    return CompletionRequest(prompts, model, stream, include_usage, max_tokens)


def parse_embeddings(data: dict[str, Any]) -> EmbeddingRequest:
    raw = data.get("input")
    if isinstance(raw, str):
        inputs = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(x, str) for x in raw):
        inputs = list(raw)
    elif isinstance(raw, list) and raw and all(isinstance(x, int) for x in raw):
        inputs = [orjson.dumps(raw).decode()]
    elif isinstance(raw, list) and raw and all(isinstance(x, list) for x in raw):
        inputs = [orjson.dumps(x).decode() for x in raw]
    elif raw is None:
        raise RequestError("'input' is a required property", param="input")
    else:
        raise RequestError("'input' must be a string or an array of strings", param="input")
    dims = data.get("dimensions")
    if dims is not None and (isinstance(dims, bool) or not isinstance(dims, int) or dims < 1):
        raise RequestError("'dimensions' must be a positive integer", param="dimensions")
    fmt = data.get("encoding_format") or "float"
    if fmt not in ("float", "base64"):
        raise RequestError("'encoding_format' must be 'float' or 'base64'", param="encoding_format")
    model = data.get("model")
    return EmbeddingRequest(inputs, model if isinstance(model, str) else None, dims, fmt)


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def chat_completion(
    id: str, created: int, model: str, text: str, finish: str, use: dict[str, int]
) -> bytes:
    return orjson.dumps(
        {
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_saferollout_sim",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": finish,
                }
            ],
            "usage": use,
        }
    )


def text_completion(
    id: str, created: int, model: str, texts: list[tuple[str, str]], use: dict[str, int]
) -> bytes:
    return orjson.dumps(
        {
            "id": id,
            "object": "text_completion",
            "created": created,
            "model": model,
            "choices": [
                {"index": i, "text": text, "logprobs": None, "finish_reason": finish}
                for i, (text, finish) in enumerate(texts)
            ],
            "usage": use,
        }
    )


class ChunkWriter:
    """Byte templates for the SSE chunks of one streamed answer."""

    def __init__(self, kind: str, id: str, created: int, model: str) -> None:
        self.kind = kind  # "chat" or "text"
        obj = "chat.completion.chunk" if kind == "chat" else "text_completion"
        head = orjson.dumps({"id": id, "object": obj, "created": created, "model": model})
        self._head = b"data: " + head[:-1] + b',"choices":['

    def role(self) -> bytes:
        return (
            self._head + b'{"index":0,"delta":{"role":"assistant","content":""},'
            b'"logprobs":null,"finish_reason":null}]}\n\n'
        )

    def tokens(self, encoded: tuple[bytes, ...] | list[bytes], index: int = 0) -> list[bytes]:
        """One chunk per token; `encoded` are the tokens as JSON strings (Answer.encoded)."""
        if self.kind == "chat":
            pre = self._head + b'{"index":%d,"delta":{"content":' % index
            post = b'},"logprobs":null,"finish_reason":null}]}\n\n'
        else:
            pre = self._head + b'{"index":%d,"text":' % index
            post = b',"logprobs":null,"finish_reason":null}]}\n\n'
        return [pre + enc + post for enc in encoded]

    def finish(self, reason: str, use: dict[str, int] | None, index: int = 0) -> bytes:
        tail = b',"usage":' + orjson.dumps(use) if use is not None else b""
        if self.kind == "chat":
            choice = b'{"index":%d,"delta":{},"logprobs":null,"finish_reason":%s}' % (
                index,
                orjson.dumps(reason),
            )
        else:
            choice = b'{"index":%d,"text":"","logprobs":null,"finish_reason":%s}' % (
                index,
                orjson.dumps(reason),
            )
        return self._head + choice + b"]" + tail + b"}\n\n"

    def usage_chunk(self, use: dict[str, int]) -> bytes:
        return self._head + b'],"usage":' + orjson.dumps(use) + b"}\n\n"

    @staticmethod
    def done() -> bytes:
        return b"data: [DONE]\n\n"

    def malformed(self) -> bytes:
        """A chunk cut off in the middle of its JSON."""
        return self._head + b'{"index":0,"delta":{"content":"trunc\n\n'


def embedding_list(
    vectors: list[Any], model: str, encoding_format: str, prompt_tokens: int
) -> bytes:
    data = []
    for i, vec in enumerate(vectors):
        emb: Any = (
            base64.b64encode(vec.astype("<f4").tobytes()).decode()
            if encoding_format == "base64"
            else vec.tolist()
        )
        data.append({"object": "embedding", "index": i, "embedding": emb})
    return orjson.dumps(
        {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
        }
    )
