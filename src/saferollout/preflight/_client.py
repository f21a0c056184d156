"""Sending suite items straight to a version's OpenAI-compatible server.

Preflight tests the exact configuration the gateway would serve: the version's
model name, its `system_prompt` (replacing the request's system message) and
its `params` are applied the way `gateway._app._for_version` does (preflight
must not import the gateway, so the few lines are repeated here; keep them in
step). Bounded concurrency, retries with exponential backoff and jitter on
transient failures (connect errors, timeouts, 429 and 5xx); the API key comes
from the environment variable the config names and never leaves the header.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import random
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
import orjson

from saferollout.config import RolloutConfig

from ._errors import PreflightError

Messages = list[dict[str, Any]]
T = TypeVar("T")


@dataclass(frozen=True)
class Target:
    """One version as preflight calls it (built from rollout.yaml)."""

    name: str
    url: str
    model: str
    system_prompt: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    timeout_s: float = 60.0
    connect_timeout_s: float = 5.0
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_config(
        cls,
        config: RolloutConfig,
        name: str,
        *,
        timeout_s: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Target:
        vc = config.versions[name]
        env = os.environ if env is None else env
        headers = {"Content-Type": "application/json"}
        if vc.api_key_env:
            key = env.get(vc.api_key_env)
            if not key:
                raise PreflightError(
                    f"versions.{name}.api_key_env: environment variable {vc.api_key_env} is not set"
                )
            headers["Authorization"] = f"Bearer {key}"
        return cls(
            name=name,
            url=vc.url,
            model=vc.model,
            system_prompt=vc.system_prompt,
            params=dict(vc.params),
            timeout_s=timeout_s or vc.timeout_s,
            connect_timeout_s=vc.connect_timeout_s,
            headers=headers,
        )

    def body(self, messages: Messages, max_tokens: int | None = None) -> dict[str, Any]:
        """The chat request this version gets, as the gateway would send it."""
        out: dict[str, Any] = {"messages": list(messages)}
        if max_tokens is not None:
            out["max_tokens"] = max_tokens
        out = {**out, **self.params, "model": self.model}
        if self.system_prompt is not None:
            rest = [m for m in messages if m.get("role") not in ("system", "developer")]
            out["messages"] = [{"role": "system", "content": self.system_prompt}, *rest]
        return out


@dataclass(slots=True)
class Reply:
    """What one item got back: the answer text, or the error after the last attempt."""

    text: str = ""
    status: int | None = None
    error: str | None = None  # connect | timeout | http_<status> | malformed
    attempts: int = 0
    latency_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


def _transient(status: int) -> bool:
    return status == 429 or status >= 500


def _answer_text(body: bytes) -> str:
    data = orjson.loads(body)
    choice = data["choices"][0]
    message = choice.get("message") or {}
    content = message.get("content")
    if content is None:
        content = choice.get("text", "")
    if isinstance(content, list):  # content parts
        content = "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content or "")


async def _send_one(
    session: aiohttp.ClientSession,
    target: Target,
    messages: Messages,
    *,
    retries: int,
    max_tokens: int | None,
    backoff_s: float,
) -> Reply:
    reply = Reply()
    payload = orjson.dumps(target.body(messages, max_tokens))
    timeout = aiohttp.ClientTimeout(total=target.timeout_s, connect=target.connect_timeout_s)
    for attempt in range(retries + 1):
        reply.attempts = attempt + 1
        t0 = time.perf_counter()
        transient = True
        try:
            async with session.post(
                target.url + "/chat/completions",
                data=payload,
                headers=dict(target.headers),
                timeout=timeout,
            ) as resp:
                body = await resp.read()
                reply.status = resp.status
                if resp.status == 200:
                    try:
                        reply.text = _answer_text(body)
                        reply.error = None
                    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
                        reply.error = "malformed"
                else:
                    reply.error = f"http_{resp.status}"
                    transient = _transient(resp.status)
        except TimeoutError:
            reply.error = "timeout"
        except aiohttp.ClientConnectionError:
            reply.error = "connect"
        except aiohttp.ClientError:
            reply.error = "connect"
        reply.latency_ms = (time.perf_counter() - t0) * 1000
        if reply.error is None or not transient or attempt == retries:
            return reply
        await asyncio.sleep(backoff_s * 2**attempt * (0.5 + random.random()))
    return reply


async def send_all(
    jobs: Sequence[tuple[Target, Sequence[Messages]]],
    *,
    concurrency: int = 8,
    retries: int = 2,
    max_tokens: int | None = None,
    backoff_s: float = 0.2,
    on_done: Callable[[], None] | None = None,
) -> list[list[Reply]]:
    """Send every job's message lists to its target; `concurrency` in flight per target."""
    out: list[list[Reply]] = [[Reply() for _ in msgs] for _, msgs in jobs]
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(j: int, i: int, target: Target, msgs: Messages, sem: asyncio.Semaphore):
            async with sem:
                out[j][i] = await _send_one(
                    session,
                    target,
                    msgs,
                    retries=retries,
                    max_tokens=max_tokens,
                    backoff_s=backoff_s,
                )
            if on_done is not None:
                on_done()

        tasks = []
        for j, (target, message_lists) in enumerate(jobs):
            sem = asyncio.Semaphore(concurrency)
            tasks += [worker(j, i, target, m, sem) for i, m in enumerate(message_lists)]
        await asyncio.gather(*tasks)
    return out


def send_all_sync(
    jobs: Sequence[tuple[Target, Sequence[Messages]]], **kwargs: Any
) -> list[list[Reply]]:
    """`send_all` from synchronous code (the CLI, tests)."""
    return run_sync(send_all(jobs, **kwargs))


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code, also when this thread
    already runs an event loop (Playwright's sync API does): then on a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
