"""The interaction record: what the gateway writes for every request it serves.

A record is created on the request path, so it is a plain slotted dataclass with
no validation and no serialization; the writer thread turns it into a row.
Scores and derived flags are added later by the scoring worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class InteractionRecord:
    """One served request, as the gateway saw it."""

    request_id: str
    created_at: float  # epoch seconds when the request arrived
    version: str  # the version that answered (stable after a retry)
    endpoint: str  # "chat.completions" | "completions" | "embeddings"
    status_code: int
    latency_ms: float
    stream: bool = False
    sticky_key_hash: str | None = None
    session_id: str | None = None
    request_messages: list[dict[str, Any]] | None = None
    response_text: str = ""
    error_kind: str | None = None  # "connect" | "timeout" | "upstream_5xx" | "bad_gateway" | ...
    ttft_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    shadow: bool = False  # a mirrored request whose answer no client saw
    retried_from: str | None = None  # the version that failed before this one answered
    rollout_step: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # The upstream body as received; the writer turns it into response_text and
    # token counts off the request path. Never stored.
    raw_response: bytes | None = None


@dataclass(slots=True)
class ScoreUpdate:
    """What the scoring worker writes back for one record."""

    request_id: str
    scores: dict[str, float]
    evidence: dict[str, Any]
    flags: dict[str, bool]  # keys from FLAG_COLUMNS


# Derived per-record flags stored as their own columns so the controller can
# aggregate them with SUM() instead of parsing JSON.
FLAG_COLUMNS: tuple[str, ...] = (
    "safety_violation",
    "pii_leak",
    "harmful_compliance",
    "refusal",
    "appropriate_refusal",
    "over_refusal",
    "guardrail_triggered",
    "anomaly",
)

# Upper bounds (ms) of the latency histogram; the last bucket is open-ended.
LATENCY_BUCKETS_MS: tuple[float, ...] = (
    25,
    50,
    100,
    200,
    300,
    500,
    750,
    1000,
    1500,
    2000,
    3000,
    5000,
    10000,
    30000,
)


# Error kinds that do not count against a version: the client left, or sent a
# request the model server rejected.
NOT_ERRORS = ("client_disconnected", "upstream_4xx")
