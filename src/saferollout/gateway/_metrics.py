"""Prometheus metrics of the gateway, labelled by version.

Each gateway owns its registry (tests run several in one process). Labelled
children are cached per version so the hot path does a dict lookup, not
prometheus_client's label resolution.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_OVERHEAD_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05)


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "saferollout_requests",
            "Client requests served, by the version that answered",
            ["version", "endpoint", "code"],
            registry=r,
        )
        self.errors = Counter(
            "saferollout_errors",
            "Upstream errors by version and kind (connect, timeout, upstream_5xx, ...)",
            ["version", "kind"],
            registry=r,
        )
        self.retries = Counter(
            "saferollout_retries_on_stable",
            "Requests retried on stable after the assigned version failed",
            ["from_version"],
            registry=r,
        )
        self.latency = Histogram(
            "saferollout_request_duration_seconds",
            "Time from request to last byte, by version (gen_ai.client.operation.duration)",
            ["version"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "saferollout_time_to_first_token_seconds",
            "Time from request to the first streamed byte (gen_ai.server.time_to_first_token)",
            ["version"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.overhead = Histogram(
            "saferollout_gateway_overhead_seconds",
            "Time the gateway itself added: total minus time waiting on upstream",
            buckets=_OVERHEAD_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "saferollout_tokens",
            "Tokens by version and type (gen_ai.client.token.usage)",
            ["version", "type"],
            registry=r,
        )
        self.guardrail = Counter(
            "saferollout_guardrail_triggers",
            "Guardrail decisions that flagged or blocked, by version, stage and action",
            ["version", "stage", "action"],
            registry=r,
        )
        self.weight = Gauge(
            "saferollout_version_weight_percent",
            "Share of client traffic routed to each version",
            ["version"],
            registry=r,
        )
        self.records_written = Counter(
            "saferollout_records_written", "Interaction records written to storage", registry=r
        )
        self.records_dropped = Counter(
            "saferollout_records_dropped",
            "Interaction records dropped because the writer queue was full",
            registry=r,
        )
        self.record_queue = Gauge(
            "saferollout_record_queue_depth", "Records waiting to be written", registry=r
        )
        self._latency: dict[str, Histogram] = {}
        self._ttft: dict[str, Histogram] = {}
        self._requests: dict[tuple[str, str, int], Counter] = {}
        self._tokens: dict[tuple[str, str], Counter] = {}

    def observe(self, version: str, endpoint: str, code: int, seconds: float) -> None:
        key = (version, endpoint, code)
        counter = self._requests.get(key)
        if counter is None:
            counter = self._requests[key] = self.requests.labels(version, endpoint, str(code))
        counter.inc()
        child = self._latency.get(version)
        if child is None:
            child = self._latency[version] = self.latency.labels(version)
        child.observe(seconds)

    def observe_ttft(self, version: str, seconds: float) -> None:
        child = self._ttft.get(version)
        if child is None:
            child = self._ttft[version] = self.ttft.labels(version)
        child.observe(seconds)

    def count_tokens(self, version: str, kind: str, n: int) -> None:
        counter = self._tokens.get((version, kind))
        if counter is None:
            counter = self._tokens[(version, kind)] = self.tokens.labels(version, kind)
        counter.inc(n)

    def set_weights(self, weights: dict[str, float]) -> None:
        for version, pct in weights.items():
            self.weight.labels(version).set(pct)
