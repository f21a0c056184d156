"""The simulated backend over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import base64
import socket
import struct
import time
from collections import Counter

import aiohttp
import numpy as np
import openai
import orjson
import pytest

from saferollout.simulation import (
    HARMFUL_MARKER,
    BackendStartError,
    Profile,
    load_prompt_mix,
    serve_backend,
    start_backend,
)

HARMFUL = load_prompt_mix().harmful
BENIGN = load_prompt_mix().benign


# --- OpenAI wire format ------------------------------------------------------------------


def test_plain_chat_completion(backend, http) -> None:
    status, headers, body = http.post(
        backend.url + "/v1/chat/completions", http.chat("How do I bake bread?")
    )
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    data = orjson.loads(body)
    assert data["object"] == "chat.completion" and data["model"] == "m"
    choice = data["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["finish_reason"] == "stop"
    assert len(choice["message"]["content"].split()) >= 50
    use = data["usage"]
    assert use["completion_tokens"] > 0 and use["prompt_tokens"] > 0
    assert use["total_tokens"] == use["prompt_tokens"] + use["completion_tokens"]
    assert headers["X-Sim-Profile"] == "stable" and headers["X-Sim-Label"] == "benign"


def test_streamed_chat_matches_plain_and_ends_with_done(make_backend, http) -> None:
    plain_backend, stream_backend = make_backend(seed=9), make_backend(seed=9)
    body = http.chat("How do I bake bread?")
    _, _, plain = http.post(plain_backend.url + "/v1/chat/completions", body)
    status, headers, raw = http.post(
        stream_backend.url + "/v1/chat/completions", {**body, "stream": True}
    )
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    events = http.sse(raw)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    plain_data = orjson.loads(plain)
    assert text == plain_data["choices"][0]["message"]["content"]
    # without include_usage, the finishing chunk carries usage
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"] == plain_data["usage"]
    content_chunks = [c for c in chunks if c["choices"][0]["delta"].get("content")]
    assert len(content_chunks) == plain_data["usage"]["completion_tokens"]


def test_stream_include_usage_sends_a_final_usage_chunk(backend, http) -> None:
    body = http.chat("Hi", stream=True, stream_options={"include_usage": True})
    events = http.sse(http.post(backend.url + "/v1/chat/completions", body)[2])
    usage_chunk = events[-2]
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["completion_tokens"] > 0
    assert all("usage" not in e for e in events[:-2])


def test_max_tokens_truncates_with_finish_reason_length(backend, http) -> None:
    data = orjson.loads(
        http.post(backend.url + "/v1/chat/completions", http.chat("Hi", max_tokens=5))[2]
    )
    assert data["choices"][0]["finish_reason"] == "length"
    assert data["usage"]["completion_tokens"] == 5


def test_completions_plain_and_stream(backend, http) -> None:
    status, _, body = http.post(backend.url + "/v1/completions", {"model": "m", "prompt": "Hi"})
    data = orjson.loads(body)
    assert status == 200 and data["object"] == "text_completion"
    assert data["choices"][0]["text"] and data["usage"]["completion_tokens"] > 0
    body = {"model": "m", "prompt": ["a", "b"], "stream": True}
    events = http.sse(http.post(backend.url + "/v1/completions", body)[2])
    assert events[-1] == "[DONE]"
    assert {e["choices"][0]["index"] for e in events[:-1]} == {0, 1}


def test_embeddings_are_deterministic_unit_vectors(make_backend, http) -> None:
    a, b = make_backend(seed=3), make_backend(seed=3)
    body = {"model": "m", "input": ["hello", "world"], "dimensions": 32}
    va = orjson.loads(http.post(a.url + "/v1/embeddings", body)[2])
    vb = orjson.loads(http.post(b.url + "/v1/embeddings", body)[2])
    assert va["data"] == vb["data"]
    v0, v1 = (np.array(d["embedding"]) for d in va["data"])
    assert len(v0) == 32 and abs(np.linalg.norm(v0) - 1) < 1e-5 and not np.allclose(v0, v1)
    b64 = orjson.loads(
        http.post(a.url + "/v1/embeddings", {**body, "encoding_format": "base64"})[2]
    )
    decoded = struct.unpack("<32f", base64.b64decode(b64["data"][0]["embedding"]))
    assert np.allclose(decoded, v0, atol=1e-6)


def test_models_and_health(make_backend, http) -> None:
    b = make_backend(model="sim-v2")
    status, body = http.get(b.url + "/v1/models")
    assert status == 200 and orjson.loads(body)["data"][0]["id"] == "sim-v2"
    status, body = http.get(b.url + "/health")
    assert status == 200 and orjson.loads(body)["status"] == "ok"


CHAT = "/v1/chat/completions"
USER_A = b'[{"role": "user", "content": "a"}]'


@pytest.mark.parametrize(
    ("path", "raw", "status", "param"),
    [
        (CHAT, b"{not json", 400, None),
        (CHAT, b'{"model": "m"}', 400, "messages"),
        (CHAT, b'{"messages": "hi"}', 400, "messages"),
        (CHAT, b'{"messages": [{"role": "x", "content": "a"}]}', 400, "messages[0].role"),
        (CHAT, b'{"messages": [{"role": "user", "content": 1}]}', 400, "messages[0].content"),
        (CHAT, b'{"messages": ' + USER_A + b', "max_tokens": 0}', 400, "max_tokens"),
        (CHAT, b'{"messages": ' + USER_A + b', "stream": "yes"}', 400, "stream"),
        ("/v1/completions", b'{"model": "m"}', 400, "prompt"),
        ("/v1/embeddings", b'{"input": 3}', 400, "input"),
        ("/v1/nothing", b"{}", 404, None),
    ],
)
def test_errors_have_openai_shape(backend, http, path, raw, status, param) -> None:
    got, _, body = http.post(backend.url + path, raw=raw)
    assert got == status
    err = orjson.loads(body)["error"]
    assert set(err) >= {"message", "type", "code"} and err["message"]
    assert err.get("param") == param


# --- the openai client with only base_url changed -----------------------------------------


def test_openai_client_plain_stream_embeddings_models(backend) -> None:
    with openai.OpenAI(base_url=backend.base_url, api_key="unused", max_retries=0) as client:
        r = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "How do I bake bread?"}]
        )
        assert r.choices[0].message.content and r.usage and r.usage.completion_tokens > 0
        stream = client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "How do I bake bread?"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        parts, usage = [], None
        with stream:
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    parts.append(chunk.choices[0].delta.content)
                if chunk.usage:
                    usage = chunk.usage
        assert parts and usage is not None and usage.completion_tokens == len(parts)
        e = client.embeddings.create(model="m", input="hello")
        assert len(e.data[0].embedding) == 256
        assert [m.id for m in client.models.list()] == ["sim-model"]
        c = client.completions.create(model="m", prompt="Say hi", max_tokens=3)
        assert c.choices[0].finish_reason == "length"


def test_openai_async_client_streams(backend) -> None:
    async def main() -> str:
        async with openai.AsyncOpenAI(base_url=backend.base_url, api_key="x") as client:
            stream = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "Hi"}], stream=True
            )
            out = []
            async with stream:
                async for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content:
                        out.append(chunk.choices[0].delta.content)
            return "".join(out)

    assert asyncio.run(main())


# --- latency and pacing ------------------------------------------------------------------


def test_latency_and_token_pacing(make_backend) -> None:
    b = make_backend(latency_ms=80, tokens_per_s=400, jitter=0)

    async def main() -> tuple[float, float, int]:
        async with aiohttp.ClientSession() as s:
            body = {"model": "m", "messages": [{"role": "user", "content": "Hi"}],
                    "stream": True, "max_tokens": 40}  # fmt: skip
            t0 = time.perf_counter()
            ttft = None
            n = 0
            async with s.post(b.url + "/v1/chat/completions", json=body) as resp:
                async for line in resp.content:
                    if b'"content":"' in line and b'"content":""' not in line:
                        ttft = ttft or time.perf_counter() - t0
                        n += 1
            return ttft or 0.0, time.perf_counter() - t0, n

    ttft, total, n = asyncio.run(main())
    assert n == 40
    assert 0.075 <= ttft < 0.3
    assert total >= 0.08 + 39 / 400 * 0.9  # paced: ~0.1 s of tokens after the first


def test_plain_response_waits_latency(make_backend, http) -> None:
    b = make_backend(latency_ms=100, jitter=0)
    t0 = time.perf_counter()
    http.post(b.url + "/v1/chat/completions", http.chat("Hi"))
    assert time.perf_counter() - t0 >= 0.095


# --- behaviour ----------------------------------------------------------------------------


def decisions(url: str, http, prompts, stream: bool = False) -> Counter[str]:
    out: Counter[str] = Counter()
    for entry in prompts:
        _, headers, body = http.post(
            url + "/v1/chat/completions", http.chat(entry.prompt, stream=stream)
        )
        tag = headers["X-Sim-Decision"]
        out[tag.split(",")[0]] += 1
        text = body.decode()
        if tag.startswith("harmful_compliance"):
            assert HARMFUL_MARKER in text
        elif tag.startswith("refusal"):
            assert HARMFUL_MARKER not in text
    return out


def test_harmful_compliance_over_http_stable_vs_regressed(make_backend, http) -> None:
    prompts = HARMFUL[:400]
    stable = decisions(make_backend("stable").url, http, prompts)
    regressed = decisions(make_backend("regressed").url, http, prompts)
    assert stable["harmful_compliance"] <= 0.03 * 400 + 10
    assert 0.15 * 400 - 25 <= regressed["harmful_compliance"] <= 0.15 * 400 + 25
    assert regressed["harmful_compliance"] > 2 * stable["harmful_compliance"]


def test_overcautious_refuses_benign_prompts(make_backend, http) -> None:
    got = decisions(make_backend("overcautious").url, http, BENIGN[:200])
    assert 0.25 * 200 - 25 <= got["over_refusal"] <= 0.25 * 200 + 25


def test_same_seed_same_answers_different_seed_different(make_backend, http) -> None:
    def answers(seed: int) -> list[bytes]:
        b = make_backend("regressed", seed=seed)
        out = []
        for entry in HARMFUL[:30] + BENIGN[:30]:
            body = orjson.loads(http.post(b.url + "/v1/chat/completions",
                                          http.chat(entry.prompt))[2])  # fmt: skip
            out.append(body["choices"][0]["message"]["content"])
        return out

    assert answers(4) == answers(4)
    assert answers(4) != answers(5)


def test_profile_switch_at_run_time(backend, http) -> None:
    assert backend.profile.name == "stable"
    backend.set_profile("regressed")
    assert (
        http.post(backend.url + "/v1/chat/completions", http.chat("Hi"))[1]["X-Sim-Profile"]
        == "regressed"
    )
    status, _, body = http.post(backend.url + "/admin/profile", {"profile": "flaky"})
    assert status == 200 and orjson.loads(body)["name"] == "flaky"
    assert backend.profile.name == "flaky"
    status, _, body = http.post(backend.url + "/admin/profile", {"profile": "nope"})
    assert status == 400 and "stable" in orjson.loads(body)["error"]["message"]
    assert backend.profile.name == "flaky"
    stats = orjson.loads(http.get(backend.url + "/admin/stats")[1])
    assert stats["counts"]["requests"] == 1


# --- faults -------------------------------------------------------------------------------


def test_error_fault_returns_5xx_with_openai_body(make_backend, http) -> None:
    b = make_backend(Profile(name="errors", error_rate=1.0))
    statuses: Counter[int] = Counter()
    for i in range(40):
        status, _, body = http.post(b.url + "/v1/chat/completions", http.chat(f"q{i}"))
        statuses[status] += 1
        assert orjson.loads(body)["error"]["type"] == "server_error"
    assert set(statuses) == {500, 503}


def test_stall_before_first_byte(make_backend, http) -> None:
    b = make_backend(Profile(name="stall", error_rate=0, stall_rate=1.0), stall_s=0.3)
    t0 = time.perf_counter()
    status, _, _ = http.post(b.url + "/v1/chat/completions", http.chat("Hi"))
    assert status == 200 and time.perf_counter() - t0 >= 0.28


def test_stall_mid_stream_ends_without_done(make_backend, http) -> None:
    b = make_backend(Profile(name="stall", error_rate=0, stall_rate=1.0), stall_s=0.05)
    seen: Counter[str] = Counter()
    for i in range(12):
        _, headers, raw = http.post(
            b.url + "/v1/chat/completions", http.chat(f"Question {i}?", stream=True)
        )
        kind = headers["X-Sim-Decision"]
        seen[kind] += 1
        events = http.sse(raw)
        if kind == "stall_mid":
            assert events and events[-1] != "[DONE]"
        else:
            assert events[-1] == "[DONE]"
    assert seen["stall_mid"] > 0


def test_malformed_fault_breaks_the_json(make_backend, http) -> None:
    b = make_backend(Profile(name="bad", error_rate=0, malformed_rate=1.0))
    status, _, body = http.post(b.url + "/v1/chat/completions", http.chat("Hi"))
    assert status == 200
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(body)
    _, _, raw = http.post(b.url + "/v1/chat/completions", http.chat("Hi", stream=True))
    with pytest.raises(orjson.JSONDecodeError):
        http.sse(raw)


def test_client_leaving_a_stalled_request_does_not_block_stop() -> None:
    handle = start_backend(
        Profile(name="stall", error_rate=0, stall_rate=1.0), latency_ms=0, stall_s=30
    )
    try:
        with pytest.raises(OSError):
            sock = socket.create_connection((handle.host, handle.port))
            with sock:
                sock.settimeout(0.3)
                sock.sendall(
                    b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Type: application/json\r\nContent-Length: 47\r\n\r\n"
                    b'{"messages":[{"role":"user","content":"Hi?!"}]}'
                )
                sock.recv(10)
    finally:
        t0 = time.perf_counter()
        handle.stop()
        assert time.perf_counter() - t0 < 5


# --- running ------------------------------------------------------------------------------


def test_port_in_use_is_a_clear_error(backend) -> None:
    with pytest.raises(BackendStartError, match=str(backend.port)):
        start_backend("stable", port=backend.port)


def test_in_loop_server() -> None:
    async def main() -> int:
        async with (
            serve_backend("healthy", latency_ms=0) as srv,
            aiohttp.ClientSession() as s,
            s.get(srv.url + "/health") as resp,
        ):
            return resp.status

    assert asyncio.run(main()) == 200
