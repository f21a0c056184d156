"""Open-loop load and streaming time-to-first-byte, for bench/gateway.py.

`rate` sends POST chat requests on a fixed schedule (request i at t0 + i/rate),
whatever the server's answers do, so a slow server meets a queue as it would in
production instead of slowing the client down (wrk's closed loop). `ttfb` sends
streaming requests one after another on one connection and times the first
body chunk (the first SSE event) and the whole stream.

Prints one JSON object on stdout. Latency runs from the moment a request is
handed to the client to the last byte; `max_send_lag_ms` says how far the
sender fell behind its schedule (a loaded client core shows here first).

    python bench/_openloop.py rate --url http://127.0.0.1:8080/v1/chat/completions \
        --rate 500 --duration 5
    python bench/_openloop.py ttfb --url ... --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import sys
import time
from collections import Counter
from typing import Any

import aiohttp
import orjson
import uvloop

REQUESTS_PER_SESSION = 4  # then a new X-Session-Id: routing hashes ever new keys, like wrk's


def session_of(prefix: str, i: int) -> str:
    return f"{prefix}{i // REQUESTS_PER_SESSION}"


def chat_body(session: str, stream: bool, turn: int = 0) -> bytes:
    """Each turn asks something new: the same question again in a session is a
    regeneration (implicit negative feedback), which real traffic does rarely."""
    body: dict[str, Any] = {
        "model": "bench",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant. Answer briefly."},
            {
                "role": "user",
                "content": f"Session {session}, turn {turn}: say hello in five words, please.",
            },
        ],
        "max_tokens": 32,
    }
    if stream:
        body["stream"] = True
    return orjson.dumps(body)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (as wrk reports them) of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, math.ceil(q / 100 * len(sorted_values)) - 1))
    return sorted_values[rank]


def summarize_ms(seconds: list[float]) -> dict[str, float]:
    values = sorted(s * 1000 for s in seconds)
    return {
        "p50_ms": percentile(values, 50),
        "p90_ms": percentile(values, 90),
        "p99_ms": percentile(values, 99),
        "mean_ms": statistics.fmean(values) if values else float("nan"),
        "max_ms": values[-1] if values else float("nan"),
    }


async def run_rate(url: str, rate: float, duration: float, warmup: float, timeout: float) -> dict:
    prefix = f"bench-{os.urandom(4).hex()}-"
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    latencies: list[float] = []
    done_in_window = 0
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    window: list[float] = [0.0, 0.0]  # measured send window [start, end], perf_counter

    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session:

        async def one(i: int, measured: bool) -> None:
            nonlocal done_in_window
            started = time.perf_counter()
            key = session_of(prefix, i)
            headers = {"Content-Type": "application/json", "X-Session-Id": key}
            try:
                async with session.post(
                    url, data=chat_body(key, False, i % REQUESTS_PER_SESSION), headers=headers
                ) as r:
                    await r.read()
                    status = r.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                errors[type(exc).__name__] += 1
                return
            ended = time.perf_counter()
            statuses[status] += 1
            if measured:
                latencies.append(ended - started)
                if window[1] == 0.0 or ended <= window[1]:
                    done_in_window += 1

        tasks: set[asyncio.Task[None]] = set()
        total = int((warmup + duration) * rate)
        first_measured = int(warmup * rate)
        max_lag = 0.0
        t0 = time.perf_counter()
        for i in range(total):
            target = t0 + i / rate
            now = time.perf_counter()
            if target > now:
                await asyncio.sleep(target - now)
            else:
                max_lag = max(max_lag, now - target)
            if i == first_measured:
                window[0] = time.perf_counter()
            task = asyncio.create_task(one(i, i >= first_measured))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        # The measured window closes one interval after the last send.
        window[1] = time.perf_counter() + 1 / rate
        if tasks:
            await asyncio.wait(tasks, timeout=timeout + 5)
    span = window[1] - window[0]
    measured_sent = total - first_measured
    return {
        "mode": "rate",
        "rate_target": rate,
        "duration_s": span,
        "sent": measured_sent,
        "completed": len(latencies),
        "throughput": done_in_window / span if span > 0 else 0.0,
        "sent_rate": measured_sent / span if span > 0 else 0.0,
        "max_send_lag_ms": max_lag * 1000,
        "responses_total": sum(statuses.values()),
        "ok_total": sum(n for s, n in statuses.items() if 200 <= s < 300),
        "statuses": {str(s): n for s, n in sorted(statuses.items())},
        "errors": dict(errors),
        **summarize_ms(latencies),
    }


async def run_ttfb(url: str, duration: float, warmup: float, timeout: float) -> dict:
    prefix = f"bench-{os.urandom(4).hex()}-"
    n = 0
    connector = aiohttp.TCPConnector(limit=1, keepalive_timeout=30)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    ttfbs: list[float] = []
    totals: list[float] = []
    bad = 0
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session:
        t0 = time.perf_counter()
        measure_from = t0 + warmup
        end = measure_from + duration
        while time.perf_counter() < end:
            key = session_of(prefix, n)
            n += 1
            body = chat_body(key, stream=True, turn=n % REQUESTS_PER_SESSION)
            headers = {"Content-Type": "application/json", "X-Session-Id": key}
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as r:
                first = await r.content.readany()
                first_at = time.perf_counter()
                rest = [first]
                while chunk := await r.content.readany():
                    rest.append(chunk)
                ended = time.perf_counter()
            if r.status != 200 or not first.startswith(b"data:") or b"[DONE]" not in rest[-1]:
                bad += 1
                continue
            if started >= measure_from:
                ttfbs.append(first_at - started)
                totals.append(ended - started)
    ttfb = summarize_ms(ttfbs)
    whole = summarize_ms(totals)
    return {
        "mode": "ttfb",
        "requests": len(ttfbs),
        "bad": bad,
        **ttfb,
        "stream_p50_ms": whole["p50_ms"],
        "stream_p99_ms": whole["p99_ms"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["rate", "ttfb"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second (rate)")
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds sent but not measured")
    parser.add_argument("--timeout", type=float, default=30.0, help="per request, seconds")
    args = parser.parse_args()
    if args.mode == "rate":
        coro = run_rate(args.url, args.rate, args.duration, args.warmup, args.timeout)
    else:
        coro = run_ttfb(args.url, args.duration, args.warmup, args.timeout)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        result = runner.run(coro)
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
