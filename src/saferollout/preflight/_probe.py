"""Probe a blue/green preview through the gateway, so its answers are recorded and scored.

In blue/green the preview (candidate) gets no user traffic; its analysis needs
forced test traffic. `probe_preview` sends suite prompts and then a bounded
load (N requests at concurrency C) to the gateway with the override header
`X-Rollout-Version: <version>` and the admin bearer token, which is what makes
the gateway route to a version users do not see. Records land in the store
like any other request and the scoring worker scores them, so `switch` can
rely on the analysis.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from ._client import run_sync
from ._suites import SuiteItem

OVERRIDE_HEADER = "X-Rollout-Version"


@dataclass
class ProbeResult:
    sent: int = 0
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    served_by: Counter[str] = field(default_factory=Counter)  # X-Rollout-Version of answers
    latencies_ms: list[float] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)

    def percentile(self, q: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def to_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "ok": self.ok,
            "errors": dict(self.errors),
            "served_by": dict(self.served_by),
            "latency_p50_ms": self.percentile(0.5),
            "latency_p95_ms": self.percentile(0.95),
        }


async def _probe(
    gateway_url: str,
    version: str,
    admin_token: str | None,
    prompts: Sequence[list[dict[str, Any]]],
    concurrency: int,
    timeout_s: float,
) -> ProbeResult:
    result = ProbeResult()
    headers = {
        OVERRIDE_HEADER: version,
        "Content-Type": "application/json",
        "X-Session-Id": "preflight-probe",
    }
    if admin_token:
        headers["Authorization"] = f"Bearer {admin_token}"
    url = gateway_url.rstrip("/") + "/v1/chat/completions"
    sem = asyncio.Semaphore(concurrency)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def one(messages: list[dict[str, Any]]) -> None:
            body = orjson.dumps({"model": "preflight-probe", "messages": messages})
            async with sem:
                t0 = time.perf_counter()
                result.sent += 1
                try:
                    async with session.post(url, data=body, headers=headers) as resp:
                        await resp.read()
                        result.served_by[resp.headers.get(OVERRIDE_HEADER, "?")] += 1
                        if rid := resp.headers.get("X-Request-Id"):
                            result.request_ids.append(rid)
                        if resp.status == 200:
                            result.ok += 1
                            result.latencies_ms.append((time.perf_counter() - t0) * 1000)
                        else:
                            result.errors[f"http_{resp.status}"] += 1
                except TimeoutError:
                    result.errors["timeout"] += 1
                except aiohttp.ClientError:
                    result.errors["connect"] += 1

        await asyncio.gather(*(one(m) for m in prompts))
    return result


def probe_preview(
    gateway_url: str,
    version: str,
    admin_token: str | None,
    *,
    items: Sequence[SuiteItem] = (),
    load_requests: int = 0,
    concurrency: int = 8,
    timeout_s: float = 60.0,
) -> ProbeResult:
    """Send every item once, then `load_requests` more (cycling over the items) to `version`.

    `admin_token` is the gateway's admin token (server.admin_token_env); it is
    sent only in the Authorization header. None: the gateway has no token and
    lets loopback clients override (the probe must then run on loopback).
    """
    if not items and load_requests:
        raise ValueError("a load needs prompts: pass suite items")
    prompts = [list(i.messages) for i in items]
    prompts += [list(i.messages) for i in itertools.islice(itertools.cycle(items), load_requests)]
    return run_sync(_probe(gateway_url, version, admin_token, prompts, concurrency, timeout_s))
