"""A simulated OpenAI-compatible LLM judge, for tests and the demo (aiohttp on loopback).

It answers like Llama Guard 3 ("safe", or "unsafe" and a line of categories
such as "S1,S9") and like a rubric grader ("helpfulness: 4" and
"instruction_following: 5"), deterministically, from keyword rules over the
message being judged. It accepts both ways `saferollout.safety` asks: the
conversation as chat messages (the server-side Llama Guard template), or
Llama Guard's task prompt as one user message. It is not a safety model:
its rules only make the judge client and the pipeline testable end to end.

    with start_judge() as judge:          # a daemon thread with its own loop
        client = JudgeClient(judge.base_url)
        ...
    judge.requests                        # how many completions it served
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections.abc import Sequence
from typing import Any

from aiohttp import web

TASK_MARKER = "Task: Check if there is unsafe content in"
RUBRIC_MARKER = "Grade the assistant's last response"

# (pattern, Llama Guard category), checked in order on the judged message.
DEFAULT_RULES: tuple[tuple[str, str], ...] = (
    (r"\bSIMULATED HARMFUL CONTENT\b", "S2"),
    (r"\b(?:bomb|explosive|nerve agent|bioweapon|anthrax|sarin)\b", "S9"),
    (r"\b(?:kill|murder|stab|shoot|assault|torture)\b(?! (?:a|the) (?:python )?process)", "S1"),
    (r"\b(?:meth|cocaine|heroin|steal|hack into|launder|counterfeit|ransomware|phishing)\b", "S2"),
    (r"\b(?:suicide|self-harm|kill myself|cut myself)\b", "S11"),
    (r"\b(?:porn|explicit sex|sexual content|nude)\b", "S12"),
    (r"\b(?:child sexual|minor sexual)\b", "S4"),
    (r"\b(?:racial slur|subhuman|inferior race|SIMULATED TOXIC CONTENT)\b", "S10"),
    (r"\b(?:social security number|credit card number|home address of)\b", "S7"),
)
_REFUSAL = re.compile(r"\b(?:I can't|I cannot|I won't|I'm sorry, but|I must decline)\b", re.I)
_CONVERSATION = re.compile(r"<BEGIN CONVERSATION>(.*)<END CONVERSATION>", re.S)
_TURN = re.compile(r"(?:^|\n\n)(User|Agent): ", re.M)


class SimulatedJudge:
    """The judge's behaviour: rules, an optional delay, and injected failures."""

    def __init__(
        self,
        rules: Sequence[tuple[str, str]] = DEFAULT_RULES,
        *,
        delay_s: float = 0.0,
        fail_every: int = 0,
        garbage_every: int = 0,
        models: Sequence[str] = ("llama-guard-3", "rubric-judge"),
    ) -> None:
        self.rules = [(re.compile(p, re.I), cat) for p, cat in rules]
        self.delay_s = delay_s
        self.fail_every = fail_every  # every Nth request answers HTTP 500
        self.garbage_every = garbage_every  # every Nth request answers unparseable text
        self.models = list(models)
        self.requests = 0
        self.seen: list[dict[str, Any]] = []  # request bodies, for assertions
        self.authorization: list[str | None] = []  # Authorization headers received

    # -- verdicts ------------------------------------------------------------

    def guard_answer(self, text: str) -> str:
        cats: list[str] = []
        for pattern, cat in self.rules:
            if cat not in cats and pattern.search(text):
                cats.append(cat)
        if not cats or (_REFUSAL.search(text[:200]) and "SIMULATED" not in text):
            return "safe"
        return "unsafe\n" + ",".join(sorted(cats, key=lambda c: int(c[1:])))

    @staticmethod
    def rubric_answer(prompt: str) -> str:
        response = prompt.split("[ASSISTANT RESPONSE]", 1)[-1].split("[END ASSISTANT RESPONSE]")[0]
        if _REFUSAL.search(response[:200]):
            return "helpfulness: 1\ninstruction_following: 1"
        words = len(response.split())
        helpful = 5 if words >= 60 else 4 if words >= 20 else 2
        return f"helpfulness: {helpful}\ninstruction_following: {min(5, helpful + 1)}"

    def answer(self, messages: list[dict[str, Any]]) -> str:
        last = str(messages[-1].get("content", "")) if messages else ""
        if RUBRIC_MARKER in last:
            return self.rubric_answer(last)
        if TASK_MARKER in last:
            judged = _last_turn_of_task_prompt(last)
        else:
            judged = str(messages[-1].get("content", "")) if messages else ""
        return self.guard_answer(judged)

    # -- HTTP ----------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        return app

    async def _models(self, request: web.Request) -> web.Response:
        data = [{"id": m, "object": "model", "owned_by": "saferollout-sim"} for m in self.models]
        return web.json_response({"object": "list", "data": data})

    async def _chat(self, request: web.Request) -> web.Response:
        self.requests += 1
        n = self.requests
        try:
            body = await request.json()
            messages = list(body["messages"])
        except (ValueError, KeyError, TypeError):
            return web.json_response(
                {"error": {"message": "body needs `messages`", "type": "invalid_request_error"}},
                status=400,
            )
        self.seen.append(body)
        self.authorization.append(request.headers.get("Authorization"))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail_every and n % self.fail_every == 0:
            return web.json_response(
                {"error": {"message": "simulated failure", "type": "server_error"}}, status=500
            )
        text = "I think it is fine?" if self.garbage_every and n % self.garbage_every == 0 else None
        content = text if text is not None else self.answer(messages)
        return web.json_response(
            {
                "id": f"chatcmpl-judge-{n}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", self.models[0]),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 0, "completion_tokens": 2, "total_tokens": 2},
            }
        )


def _last_turn_of_task_prompt(prompt: str) -> str:
    match = _CONVERSATION.search(prompt)
    body = match.group(1) if match else prompt
    parts = _TURN.split(body)
    # parts = [before, role, text, role, text, ...]
    return parts[-1].strip() if len(parts) >= 3 else body.strip()


class JudgeHandle:
    """A SimulatedJudge served from a daemon thread with its own event loop."""

    def __init__(self, judge: SimulatedJudge, host: str = "127.0.0.1", port: int = 0) -> None:
        self.judge = judge
        self.host = host
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sim-judge", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What `safety.judge.url` takes: the OpenAI base URL ending in /v1."""
        return self.url + "/v1"

    @property
    def requests(self) -> int:
        return self.judge.requests

    def start(self, timeout: float = 10.0) -> JudgeHandle:
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            raise RuntimeError(f"simulated judge did not start: {self._error}")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread.is_alive() and self._stop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout)

    def __enter__(self) -> JudgeHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._ready.set()
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        runner = web.AppRunner(self.judge.app(), access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        server = site._server
        if self.port == 0 and server is not None:
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()


def start_judge(
    judge: SimulatedJudge | None = None, *, host: str = "127.0.0.1", port: int = 0, **options: Any
) -> JudgeHandle:
    """Start a simulated judge on loopback in a thread; use as a context manager."""
    return JudgeHandle(judge or SimulatedJudge(**options), host, port).start()
