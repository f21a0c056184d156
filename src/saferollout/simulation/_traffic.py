"""Synthetic chat traffic: many users, multi-turn sessions, replayed prompt mix.

A session is one simulated chat: a stable X-Session-Id and X-User-Id, 1-4
turns, each turn a prompt from the mix (harmful with probability
`harmful_share`) sent with the whole conversation so far, including the
assistant's earlier answers, as a chat client does. A session either streams
or not, like the client app behind it. A turn that fails (5xx, timeout,
broken stream) is left out of the history and the user goes on with the next
one. The plan (who says what, streaming or not) is a pure function of the seed.

Two load models:
- closed loop (`rate=None`): `concurrency` sessions in flight, each sending
  its next turn as soon as the previous answer is in;
- open loop (`rate=R`): a turn starts every 1/R s (Poisson if asked), a
  follow-up turn of a session whose answer is in first, else a new session.

Every request's outcome (status, X-Rollout-Version, X-Request-Id, latency,
time to first token, streamed to [DONE] or broken) is collected so that the
demo and the tests can count what clients saw. All requests share one pooled
aiohttp ClientSession.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import random
import statistics
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from ._prompts import PromptEntry, PromptMix, load_prompt_mix
from ._runner import new_event_loop

Message = dict[str, str]


@dataclass(frozen=True)
class TrafficConfig:
    """What traffic to send and how fast."""

    base_url: str
    """The gateway (or a backend): root URL or .../v1."""
    requests: int = 1000
    """Total requests (turns) to send."""
    harmful_share: float = 0.1
    stream_share: float = 0.3
    """Share of sessions that stream."""
    concurrency: int = 16
    """Closed loop: sessions in flight. Open loop: ignored (see max_connections)."""
    rate: float | None = None
    """Open loop target in requests per second; None = closed loop."""
    poisson: bool = False
    """Open loop: exponential gaps instead of even spacing."""
    users: int = 200
    min_turns: int = 1
    max_turns: int = 4
    seed: int = 0
    model: str = "sim-model"
    api_key: str | None = None
    timeout_s: float = 30.0
    think_time_s: float = 0.0
    """Pause between an answer and the session's next turn."""
    max_tokens: int | None = None
    system_prompt: str | None = "You are a helpful assistant."
    max_connections: int = 1000
    """Open loop: cap on pooled connections (closed loop uses `concurrency`)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Extra headers on every request (e.g. an admin token)."""
    keep_text: bool = True
    """Keep each answer's text in its outcome (off to save memory on big runs)."""

    def __post_init__(self) -> None:
        if self.requests < 0:
            raise ValueError("requests must be >= 0")
        if not 0 <= self.harmful_share <= 1 or not 0 <= self.stream_share <= 1:
            raise ValueError("harmful_share and stream_share must be in [0, 1]")
        if self.concurrency < 1 or self.users < 1:
            raise ValueError("concurrency and users must be >= 1")
        if not 1 <= self.min_turns <= self.max_turns:
            raise ValueError("need 1 <= min_turns <= max_turns")
        if self.rate is not None and self.rate <= 0:
            raise ValueError("rate must be > 0")

    @property
    def chat_url(self) -> str:
        root = self.base_url.rstrip("/")
        root = root.removesuffix("/v1")
        return root + "/v1/chat/completions"


@dataclass(frozen=True, slots=True)
class SessionPlan:
    """One simulated chat, fixed before any request is sent."""

    session_id: str
    user_id: str
    stream: bool
    turns: tuple[PromptEntry, ...]


@dataclass(frozen=True, slots=True)
class RequestOutcome:
    """What the client saw for one request."""

    index: int
    """Order in which the request was issued (0-based)."""
    session_id: str
    user_id: str
    turn: int
    """1-based turn within the session."""
    prompt_id: str
    label: str
    stream: bool
    status: int
    """HTTP status; 0 when no response arrived (connect error, timeout)."""
    version: str | None
    """X-Rollout-Version response header."""
    request_id: str | None
    """X-Request-Id response header."""
    latency_s: float
    ttft_s: float | None
    """Time to the first content chunk (streams) or to the body (plain)."""
    completed: bool
    """A 200 whose body parsed, or a stream that ended with [DONE]."""
    error: str | None
    """None, "http_<status>", "timeout", "connection", "broken_stream", "malformed"."""
    text: str
    completion_tokens: int | None
    started_s: float
    """Start time relative to the start of the run."""
    n_messages: int
    """Messages sent (the conversation so far, system prompt included)."""
    sim_decision: str | None = None
    """X-Sim-Decision header, when the server is a simulated backend (ground truth)."""

    @property
    def ok(self) -> bool:
        return self.completed and self.error is None


@dataclass
class TrafficResult:
    """All outcomes of a run, in issue order, with summaries."""

    outcomes: list[RequestOutcome]
    duration_s: float
    sessions: list[SessionPlan]

    def __len__(self) -> int:
        return len(self.outcomes)

    @property
    def achieved_rate(self) -> float:
        return len(self.outcomes) / self.duration_s if self.duration_s > 0 else 0.0

    def by_version(self) -> dict[str | None, list[RequestOutcome]]:
        groups: dict[str | None, list[RequestOutcome]] = collections.defaultdict(list)
        for o in self.outcomes:
            groups[o.version].append(o)
        return dict(groups)

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per version (key "?" when the header was missing): counts, errors, latency."""
        out: dict[str, dict[str, Any]] = {}
        for version, items in sorted(self.by_version().items(), key=lambda kv: str(kv[0])):
            lat = sorted(o.latency_s for o in items)
            errors = collections.Counter(o.error for o in items if o.error)
            out[version or "?"] = {
                "requests": len(items),
                "ok": sum(o.ok for o in items),
                "errors": dict(errors),
                "error_rate": sum(errors.values()) / len(items),
                "streams": sum(o.stream for o in items),
                "broken_streams": sum(o.error == "broken_stream" for o in items),
                "latency_p50_s": _quantile(lat, 0.5),
                "latency_p99_s": _quantile(lat, 0.99),
            }
        return out


def _quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    if len(sorted_values) == 1:
        return sorted_values[0]
    return statistics.quantiles(sorted_values, n=1000, method="inclusive")[
        min(998, max(0, round(q * 1000) - 1))
    ]


def plan_sessions(config: TrafficConfig, mix: PromptMix | None = None) -> list[SessionPlan]:
    """The sessions of a run: deterministic for a seed, turns summing to `requests`."""
    mix = mix if mix is not None else load_prompt_mix()
    if not mix.harmful or not mix.benign:
        raise ValueError("the prompt mix needs both harmful and benign prompts")
    rng = random.Random(config.seed)
    sessions = []
    left = config.requests
    while left > 0:
        n = min(left, rng.randint(config.min_turns, config.max_turns))
        left -= n
        turns = tuple(
            rng.choice(mix.harmful if rng.random() < config.harmful_share else mix.benign)
            for _ in range(n)
        )
        sessions.append(
            SessionPlan(
                session_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                user_id=f"user-{rng.randrange(config.users):05d}",
                stream=rng.random() < config.stream_share,
                turns=turns,
            )
        )
    return sessions


class _Run:
    """State of one traffic run (shared by all its tasks)."""

    def __init__(
        self,
        config: TrafficConfig,
        http: aiohttp.ClientSession,
        sessions: list[SessionPlan],
        on_outcome: Callable[[RequestOutcome], None] | None,
    ) -> None:
        self.config = config
        self.http = http
        self.sessions = sessions
        self.on_outcome = on_outcome
        self.outcomes: list[RequestOutcome] = []
        self.next_index = 0
        self.t0 = time.perf_counter()
        self.url = config.chat_url
        self.timeout = aiohttp.ClientTimeout(total=config.timeout_s)
        base_headers = {"Content-Type": "application/json", **config.headers}
        if config.api_key:
            base_headers["Authorization"] = f"Bearer {config.api_key}"
        self.base_headers = base_headers

    def start_history(self) -> list[Message]:
        if self.config.system_prompt:
            return [{"role": "system", "content": self.config.system_prompt}]
        return []

    async def turn(self, plan: SessionPlan, turn: int, history: list[Message]) -> None:
        """Send turn `turn` (0-based) of `plan`; extend `history` when answered."""
        entry = plan.turns[turn]
        messages = [*history, {"role": "user", "content": entry.prompt}]
        index = self.next_index
        self.next_index += 1
        outcome = await self.send(plan, turn + 1, entry, messages, index)
        if outcome.ok:
            history.extend([messages[-1], {"role": "assistant", "content": outcome.text}])
        if not self.config.keep_text:
            outcome = dataclasses.replace(outcome, text="")
        self.outcomes.append(outcome)
        if self.on_outcome is not None:
            self.on_outcome(outcome)

    async def send(
        self,
        plan: SessionPlan,
        turn: int,
        entry: PromptEntry,
        messages: list[Message],
        index: int,
    ) -> RequestOutcome:
        cfg = self.config
        body: dict[str, Any] = {
            "model": cfg.model,
            "messages": messages,
            "user": plan.user_id,
            "stream": plan.stream,
        }
        if plan.stream:
            body["stream_options"] = {"include_usage": True}
        if cfg.max_tokens is not None:
            body["max_tokens"] = cfg.max_tokens
        headers = {
            **self.base_headers,
            "X-Session-Id": plan.session_id,
            "X-User-Id": plan.user_id,
        }
        status, version, request_id, decision = 0, None, None, None
        text, tokens, ttft, completed, error = "", None, None, False, None
        start = time.perf_counter()
        try:
            async with self.http.post(
                self.url, data=orjson.dumps(body), headers=headers, timeout=self.timeout
            ) as resp:
                status = resp.status
                version = resp.headers.get("X-Rollout-Version")
                request_id = resp.headers.get("X-Request-Id")
                decision = resp.headers.get("X-Sim-Decision")
                if status != 200:
                    await resp.read()
                    error = f"http_{status}"
                elif plan.stream:
                    text, tokens, ttft, completed, error = await _read_stream(resp, start)
                else:
                    raw = await resp.read()
                    ttft = time.perf_counter() - start
                    try:
                        data = orjson.loads(raw)
                        text = data["choices"][0]["message"]["content"] or ""
                        tokens = (data.get("usage") or {}).get("completion_tokens")
                        completed = True
                    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
                        error = "malformed"
        except TimeoutError:
            error = "timeout"
        except aiohttp.ClientPayloadError:
            error = "broken_stream"
        except aiohttp.ClientError:
            error = "broken_stream" if status else "connection"
        return RequestOutcome(
            index=index,
            session_id=plan.session_id,
            user_id=plan.user_id,
            turn=turn,
            prompt_id=entry.id,
            label=entry.label,
            stream=plan.stream,
            status=status,
            version=version,
            request_id=request_id,
            latency_s=time.perf_counter() - start,
            ttft_s=ttft,
            completed=completed,
            error=error,
            text=text,
            completion_tokens=tokens,
            started_s=start - self.t0,
            n_messages=len(messages),
            sim_decision=decision,
        )

    async def session(self, plan: SessionPlan) -> None:
        history = self.start_history()
        for turn in range(len(plan.turns)):
            if turn and self.config.think_time_s:
                await asyncio.sleep(self.config.think_time_s)
            await self.turn(plan, turn, history)

    async def closed_loop(self) -> None:
        it: Iterator[SessionPlan] = iter(self.sessions)

        async def worker() -> None:
            for plan in it:  # shared iterator: each session goes to one worker
                await self.session(plan)

        n = min(self.config.concurrency, len(self.sessions))
        await asyncio.gather(*(worker() for _ in range(n)))

    async def open_loop(self, rate: float) -> None:
        cfg = self.config
        rng = random.Random(cfg.seed ^ 0x5EED)
        new_sessions = iter(self.sessions)
        ready: collections.deque[tuple[SessionPlan, int, list[Message]]] = collections.deque()
        became_ready = asyncio.Event()
        tasks: set[asyncio.Task[None]] = set()
        loop = asyncio.get_running_loop()
        start = loop.time()
        next_at = start

        async def run_turn(plan: SessionPlan, turn: int, history: list[Message]) -> None:
            await self.turn(plan, turn, history)
            if turn + 1 < len(plan.turns):
                if cfg.think_time_s:
                    await asyncio.sleep(cfg.think_time_s)
                ready.append((plan, turn + 1, history))
                became_ready.set()

        for _ in range(cfg.requests):
            delay = next_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            next_at += rng.expovariate(rate) if cfg.poisson else 1.0 / rate
            if not ready:
                plan = next(new_sessions, None)
                if plan is not None:
                    ready.append((plan, 0, self.start_history()))
            while not ready:  # tail of the run: only follow-ups are left
                became_ready.clear()
                await became_ready.wait()
            plan, turn, history = ready.popleft()
            task = asyncio.create_task(run_turn(plan, turn, history))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        while tasks:
            await asyncio.gather(*list(tasks))


async def _read_stream(
    resp: aiohttp.ClientResponse, start: float
) -> tuple[str, int | None, float | None, bool, str | None]:
    """Read an SSE chat stream: (text, completion tokens, ttft, saw [DONE], error)."""
    parts: list[str] = []
    tokens: int | None = None
    ttft: float | None = None
    done = False
    malformed = False
    async for raw in resp.content:
        line = raw.strip()
        if not line.startswith(b"data:"):
            continue
        payload = line[5:].strip()
        if payload == b"[DONE]":
            done = True
            break
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError:
            malformed = True
            continue
        if ttft is None:
            ttft = time.perf_counter() - start
        usage = chunk.get("usage")
        if usage:
            tokens = usage.get("completion_tokens", tokens)
        for choice in chunk.get("choices") or ():
            content = (choice.get("delta") or {}).get("content")
            if content:
                parts.append(content)
    error = "malformed" if malformed else None if done else "broken_stream"
    return "".join(parts), tokens, ttft, done and not malformed, error


async def generate_traffic(
    config: TrafficConfig,
    *,
    mix: PromptMix | None = None,
    session: aiohttp.ClientSession | None = None,
    on_outcome: Callable[[RequestOutcome], None] | None = None,
) -> TrafficResult:
    """Send the traffic `config` describes from inside a running event loop.

    Pass `session` to reuse a ClientSession (it is not closed); otherwise one
    pooled session is opened and closed here. `on_outcome` sees each outcome
    as it completes (progress bars, live counters).
    """
    sessions = plan_sessions(config, mix)
    own = session is None
    if session is None:
        limit = config.concurrency if config.rate is None else config.max_connections
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=limit, limit_per_host=0),
            auto_decompress=False,
        )
    try:
        run = _Run(config, session, sessions, on_outcome)
        if config.rate is None:
            await run.closed_loop()
        else:
            await run.open_loop(config.rate)
        duration = time.perf_counter() - run.t0
    finally:
        if own:
            await session.close()
    outcomes = sorted(run.outcomes, key=lambda o: o.index)
    return TrafficResult(outcomes=outcomes, duration_s=duration, sessions=sessions)


def run_traffic(
    config: TrafficConfig,
    *,
    mix: PromptMix | None = None,
    on_outcome: Callable[[RequestOutcome], None] | None = None,
) -> TrafficResult:
    """Blocking convenience wrapper: runs `generate_traffic` on a fresh (uv)loop.

    Not for use inside a running event loop: `await generate_traffic(...)` there.
    """
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(generate_traffic(config, mix=mix, on_outcome=on_outcome))
