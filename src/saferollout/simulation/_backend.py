"""A simulated OpenAI-compatible model server whose behaviour a profile sets.

`SimBackend` holds the state (profile, seed, counters) and builds the aiohttp
application; _runner.py runs it. Per request it looks up the last user message
in the prompt mix to learn whether the prompt is harmful, draws a `Decision`
from the profile with a RNG seeded from (seed, request content, occurrence),
waits the base latency, and answers plain or as SSE, paced at tokens-per-s.

Routes: POST /v1/chat/completions, POST /v1/completions, POST /v1/embeddings,
GET /v1/models, GET /health; and for scenarios and tests GET|POST
/admin/profile (switch the profile of a running server), GET /admin/stats
(ground-truth counts of decisions), POST /admin/reset. Every answer carries
X-Sim-Profile and X-Sim-Decision headers with the ground truth.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from aiohttp import web

from ._decisions import Decision, Fault, decide, request_rng
from ._exceptions import UnknownProfile
from ._openai import (
    ChunkWriter,
    RequestError,
    chat_completion,
    embedding_list,
    error_body,
    parse_chat,
    parse_completion,
    parse_embeddings,
    parse_json,
    text_completion,
    usage,
)
from ._profiles import Profile, get_profile
from ._prompts import Label, PromptMix, load_prompt_mix
from ._responses import Answer, count_tokens, render_answer

JSON = "application/json"
_MAX_SEEN = 1_000_000  # distinct request contents remembered for occurrence counts


@dataclass(frozen=True, slots=True)
class BackendSettings:
    """How a simulated server runs, apart from its (switchable) profile."""

    model: str = "sim-model"
    latency_ms: float = 20.0
    """Base delay before the first token (plain: before the body)."""
    tokens_per_s: float = 0.0
    """Pacing of generated tokens; 0 = no pacing, the whole answer at once."""
    jitter: float = 0.1
    """Relative +/- spread of the latency, drawn from the request's RNG."""
    seed: int = 0
    stall_s: float = 30.0
    """How long a stalled request hangs (longer than a sane client timeout)."""
    embedding_dim: int = 256

    def __post_init__(self) -> None:
        if self.latency_ms < 0 or self.tokens_per_s < 0 or self.stall_s < 0:
            raise ValueError("latency_ms, tokens_per_s and stall_s must be >= 0")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be in [0, 1]")


class SimBackend:
    """State and request handlers of one simulated model server."""

    def __init__(
        self,
        profile: str | Profile = "stable",
        settings: BackendSettings | None = None,
        *,
        prompts: PromptMix | None = None,
    ) -> None:
        self.settings = settings or BackendSettings()
        self._profile = get_profile(profile)
        self.prompts = prompts if prompts is not None else load_prompt_mix()
        self._seen: dict[bytes, int] = {}
        self._stats: Counter[str] = Counter()
        self._lock = threading.Lock()  # stats are read from other threads

    # --- state -------------------------------------------------------------------

    @property
    def profile(self) -> Profile:
        return self._profile

    def set_profile(self, profile: str | Profile) -> Profile:
        """Switch behaviour at run time (e.g. a blue/green post-switch regression)."""
        self._profile = get_profile(profile)
        return self._profile

    def stats(self) -> dict[str, int]:
        """Ground truth: how many requests got each decision, by kind."""
        with self._lock:
            return dict(self._stats)

    def reset(self) -> None:
        """Forget counters and occurrence counts, as if freshly started."""
        with self._lock:
            self._stats.clear()
            self._seen.clear()

    def plan(
        self, content: bytes, prompt: str, *, endpoint: str = "chat"
    ) -> tuple[Decision, random.Random]:
        """Decision and RNG for one request: same content, same n-th occurrence, same draw.

        Embeddings count only as requests and faults in the stats: they have no
        behaviour to judge.
        """
        digest = hashlib.blake2b(content, digest_size=16).digest()
        n = self._seen.get(digest, 0)
        if len(self._seen) >= _MAX_SEEN:
            self._seen.clear()
        self._seen[digest] = n + 1
        rng = request_rng(self.settings.seed, digest, n)
        label: Label = self.prompts.classify(prompt)[0] if prompt else "benign"
        decision = decide(self._profile, label, rng)
        with self._lock:
            stats = self._stats
            stats["requests"] += 1
            if endpoint == "embeddings":
                stats["embeddings"] += 1
            else:
                stats[f"label:{label}"] += 1
            if decision.fault is not Fault.NONE:
                if endpoint != "embeddings" or decision.fault.value.startswith("error"):
                    stats[decision.fault.value] += 1
            elif endpoint != "embeddings":
                stats[decision.behaviour.value] += 1
                stats["pii"] += decision.pii
                stats["toxic"] += decision.toxic
        return decision, rng

    def _delay(self, rng: random.Random) -> float:
        s = self.settings
        base = s.latency_ms / 1000.0 * self._profile.latency_factor
        return base * (1.0 + s.jitter * (2.0 * rng.random() - 1.0))

    def _token_interval(self) -> float:
        tps = self.settings.tokens_per_s
        return self._profile.latency_factor / tps if tps > 0 else 0.0

    # --- application --------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self.chat_completions)
        app.router.add_post("/v1/completions", self.completions)
        app.router.add_post("/v1/embeddings", self.embeddings)
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/health", self.health)
        app.router.add_get("/admin/profile", self.get_profile_route)
        app.router.add_post("/admin/profile", self.set_profile_route)
        app.router.add_get("/admin/stats", self.stats_route)
        app.router.add_post("/admin/reset", self.reset_route)
        app.router.add_route("*", "/{tail:.*}", self.not_found)
        return app

    def _headers(self, decision: Decision | None = None) -> dict[str, str]:
        h = {"X-Sim-Profile": self._profile.name}
        if decision is not None:
            h["X-Sim-Decision"] = decision.tag()
            h["X-Sim-Label"] = decision.label
        return h

    @staticmethod
    def _error(
        status: int,
        message: str,
        type: str,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        return web.Response(
            status=status,
            body=error_body(message, type, code, param),
            content_type=JSON,
            headers=headers,
        )

    def _fault_error(self, decision: Decision) -> web.Response:
        if decision.fault is Fault.ERROR_500:
            return self._error(
                500,
                "The server had an error while processing your request (simulated).",
                "server_error",
                "internal_error",
                headers=self._headers(decision),
            )
        return self._error(
            503,
            "The server is overloaded, please try again later (simulated).",
            "server_error",
            "overloaded",
            headers=self._headers(decision),
        )

    async def _read(self, request: web.Request) -> dict[str, Any]:
        return parse_json(await request.read())

    # --- handlers -----------------------------------------------------------------

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        try:
            req = parse_chat(await self._read(request))
        except RequestError as e:
            return self._error(e.status, e.message, e.type, e.code, e.param, self._headers())
        prompt = req.last_user_text
        decision, rng = self.plan(b"chat" + orjson.dumps(req.messages), prompt)
        answers = [self._answer(decision, prompt, rng, req.max_tokens)]
        use = usage(req.prompt_tokens(), sum(len(a.tokens) for a, _ in answers))
        return await self._respond(
            request, "chat", req.model, req.stream, req.include_usage, decision, rng, answers, use
        )

    async def completions(self, request: web.Request) -> web.StreamResponse:
        try:
            req = parse_completion(await self._read(request))
        except RequestError as e:
            return self._error(e.status, e.message, e.type, e.code, e.param, self._headers())
        decision, rng = self.plan(b"text" + orjson.dumps(req.prompts), req.prompts[-1])
        answers = [self._answer(decision, p, rng, req.max_tokens) for p in req.prompts]
        prompt_tokens = sum(count_tokens(p) for p in req.prompts)
        use = usage(prompt_tokens, sum(len(a.tokens) for a, _ in answers))
        return await self._respond(
            request, "text", req.model, req.stream, req.include_usage, decision, rng, answers, use
        )

    def _answer(
        self, decision: Decision, prompt: str, rng: random.Random, max_tokens: int | None
    ) -> tuple[Answer, str]:
        answer = render_answer(decision, prompt, self._profile, rng)
        if max_tokens is not None and len(answer.tokens) > max_tokens:
            return answer.truncated(max_tokens), "length"
        return answer, "stop"

    async def _respond(
        self,
        request: web.Request,
        kind: str,
        model: str | None,
        stream: bool,
        include_usage: bool,
        decision: Decision,
        rng: random.Random,
        answers: list[tuple[Answer, str]],
        use: dict[str, int],
    ) -> web.StreamResponse:
        delay = self._delay(rng)
        rid = f"{'chatcmpl' if kind == 'chat' else 'cmpl'}-{rng.getrandbits(96):024x}"
        model = model or self.settings.model
        created = int(time.time())
        fault = decision.fault

        if fault in (Fault.ERROR_500, Fault.ERROR_503):
            await _sleep(delay)
            return self._fault_error(decision)
        if fault is Fault.STALL_BEFORE or (fault is Fault.STALL_MID and not stream):
            await asyncio.sleep(self.settings.stall_s)

        if not stream:
            n_tokens = sum(len(a.tokens) for a, _ in answers)
            await _sleep(delay + n_tokens * self._token_interval())
            if fault is Fault.MALFORMED:
                body = b'{"id":"%s","choices":[{"message":{"content":"' % rid.encode()
            elif kind == "chat":
                answer, finish = answers[0]
                body = chat_completion(rid, created, model, answer.text, finish, use)
            else:
                texts = [(a.text, f) for a, f in answers]
                body = text_completion(rid, created, model, texts, use)
            return web.Response(body=body, content_type=JSON, headers=self._headers(decision))

        await _sleep(delay)
        try:
            return await self._stream(
                request, kind, rid, created, model, include_usage, decision, answers, use
            )
        except ConnectionResetError:  # the client went away mid-stream; nothing to answer
            return web.Response(status=499)

    async def _stream(
        self,
        request: web.Request,
        kind: str,
        rid: str,
        created: int,
        model: str,
        include_usage: bool,
        decision: Decision,
        answers: list[tuple[Answer, str]],
        use: dict[str, int],
    ) -> web.StreamResponse:
        fault = decision.fault
        resp = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                **self._headers(decision),
            }
        )
        await resp.prepare(request)
        w = ChunkWriter(kind, rid, created, model)
        chunks = [w.role()] if kind == "chat" else []
        lead = len(chunks) + 1
        for index, (answer, finish) in enumerate(answers):
            chunks += w.tokens(answer.encoded, index)
            last = index == len(answers) - 1
            chunks.append(w.finish(finish, use if last and not include_usage else None, index))
        if include_usage:
            chunks.append(w.usage_chunk(use))
        chunks.append(w.done())

        if fault in (Fault.STALL_MID, Fault.MALFORMED):
            await self._write(resp, chunks[: len(chunks) // 2], lead)
            if fault is Fault.MALFORMED:
                await resp.write(w.malformed() + w.done())
            else:  # stalled mid-stream: hang, then end without [DONE]
                await asyncio.sleep(self.settings.stall_s)
        else:
            await self._write(resp, chunks, lead)
        await resp.write_eof()
        return resp

    async def _write(self, resp: web.StreamResponse, chunks: list[bytes], lead: int) -> None:
        """All at once, or one chunk per token interval when tokens are paced.

        The first `lead` chunks (the role chunk and the first token) go together:
        the first token is what ends the latency.
        """
        interval = self._token_interval()
        if not interval:
            await resp.write(b"".join(chunks))
            return
        await resp.write(b"".join(chunks[:lead]))
        start = time.monotonic()
        for i, chunk in enumerate(chunks[lead:], 1):
            lag = start + i * interval - time.monotonic()
            if lag > 0:
                await asyncio.sleep(lag)
            await resp.write(chunk)

    async def embeddings(self, request: web.Request) -> web.Response:
        try:
            req = parse_embeddings(await self._read(request))
        except RequestError as e:
            return self._error(e.status, e.message, e.type, e.code, e.param, self._headers())
        content = b"embed" + orjson.dumps(req.inputs)
        decision, rng = self.plan(content, "", endpoint="embeddings")
        await _sleep(self._delay(rng))
        if decision.fault in (Fault.ERROR_500, Fault.ERROR_503):
            return self._fault_error(decision)
        dim = req.dimensions or self.settings.embedding_dim
        vectors = [pseudo_embedding(text, dim, self.settings.seed) for text in req.inputs]
        tokens = sum(count_tokens(t) for t in req.inputs)
        body = embedding_list(
            vectors, req.model or self.settings.model, req.encoding_format, tokens
        )
        return web.Response(body=body, content_type=JSON, headers=self._headers())

    async def models(self, request: web.Request) -> web.Response:
        body = {
            "object": "list",
            "data": [
                {
                    "id": self.settings.model,
                    "object": "model",
                    "created": 1_700_000_000,
                    "owned_by": "saferollout-simulation",
                }
            ],
        }
        return web.Response(body=orjson.dumps(body), content_type=JSON)

    async def health(self, request: web.Request) -> web.Response:
        body = {"status": "ok", "profile": self._profile.name, "model": self.settings.model}
        return web.Response(body=orjson.dumps(body), content_type=JSON)

    async def get_profile_route(self, request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(_profile_dict(self._profile)), content_type=JSON)

    async def set_profile_route(self, request: web.Request) -> web.Response:
        try:
            data = await self._read(request)
            name = data.get("profile")
            if not isinstance(name, str):
                raise RequestError("'profile' must be a string", param="profile")
            try:
                profile = get_profile(name)
            except UnknownProfile as exc:
                raise RequestError(str(exc), param="profile", code="unknown_profile") from exc
        except RequestError as e:
            return self._error(e.status, e.message, e.type, e.code, e.param)
        self.set_profile(profile)
        return web.Response(body=orjson.dumps(_profile_dict(profile)), content_type=JSON)

    async def stats_route(self, request: web.Request) -> web.Response:
        body = {"profile": self._profile.name, "counts": self.stats()}
        return web.Response(body=orjson.dumps(body), content_type=JSON)

    async def reset_route(self, request: web.Request) -> web.Response:
        self.reset()
        return web.Response(body=b'{"reset":true}', content_type=JSON)

    async def not_found(self, request: web.Request) -> web.Response:
        return self._error(
            404,
            f"Unknown request URL: {request.method} {request.path}.",
            "invalid_request_error",
            "unknown_url",
        )


async def _sleep(seconds: float) -> None:
    """asyncio.sleep that skips the loop round-trip for zero latency (benchmarks)."""
    if seconds > 0:
        await asyncio.sleep(seconds)


def _profile_dict(profile: Profile) -> dict[str, Any]:
    return dataclasses.asdict(profile)


def pseudo_embedding(text: str, dim: int, seed: int = 0) -> np.ndarray:
    """A unit vector derived from a hash of the text: same text, same vector."""
    digest = hashlib.blake2b(text.encode(), digest_size=16, key=str(seed).encode()).digest()
    vec = np.random.default_rng(int.from_bytes(digest, "big")).standard_normal(dim)
    return (vec / np.linalg.norm(vec)).astype(np.float32)
