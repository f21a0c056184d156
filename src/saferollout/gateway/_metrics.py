"""Prometheus metrics of the gateway, labelled by version.

Each gateway owns its registry (tests run several in one process). Labelled
children are cached per version so the hot path does a dict lookup, not
prometheus_client's label resolution.

Durations, time to first token and token usage are observed once, under the
OpenTelemetry GenAI names (`gen_ai_client_operation_duration_seconds`,
`gen_ai_server_time_to_first_token_seconds`, `gen_ai_client_token_usage`,
labelled `gen_ai_operation_name`, `gen_ai_request_model`, `version`); the older
per-version `saferollout_request_duration_seconds` and
`saferollout_time_to_first_token_seconds` are summed from them at scrape time
(`_VersionRollup`), so both names cost the request path one observation.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_OVERHEAD_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05)
# The bucket boundaries OpenTelemetry advises for gen_ai.client.token.usage.
_TOKEN_BUCKETS = tuple(4.0**i for i in range(14))
# Gateway endpoint -> gen_ai.operation.name (the OpenTelemetry well-known values).
OPERATION_NAMES = {
    "chat.completions": "chat",
    "completions": "text_completion",
    "embeddings": "embeddings",
}
_GEN_AI_LABELS = ["version", "gen_ai_operation_name", "gen_ai_request_model"]


class GatewayMetrics:
    def __init__(self, models: Mapping[str, str] | None = None) -> None:
        """`models`: version -> the model name it serves (`gen_ai_request_model`)."""
        self.models = dict(models or {})
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
        self.duration = Histogram(
            "gen_ai_client_operation_duration_seconds",
            "Time from request to last byte, by version, operation and model; error_type "
            "is the failure kind, empty on success (gen_ai.client.operation.duration)",
            [*_GEN_AI_LABELS, "error_type"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "gen_ai_server_time_to_first_token_seconds",
            "Time from request to the first streamed byte (gen_ai.server.time_to_first_token)",
            _GEN_AI_LABELS,
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.token_usage = Histogram(
            "gen_ai_client_token_usage",
            "Tokens per request by version, operation, model and gen_ai_token_type "
            "input|output (gen_ai.client.token.usage)",
            [*_GEN_AI_LABELS, "gen_ai_token_type"],
            buckets=_TOKEN_BUCKETS,
            registry=r,
        )
        r.register(
            _VersionRollup(
                self.duration,
                "saferollout_request_duration_seconds",
                "Time from request to last byte, by version "
                "(gen_ai_client_operation_duration_seconds summed by version)",
            )
        )
        r.register(
            _VersionRollup(
                self.ttft,
                "saferollout_time_to_first_token_seconds",
                "Time from request to the first streamed byte, by version "
                "(gen_ai_server_time_to_first_token_seconds summed by version)",
            )
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
        self.writer_restarts = Counter(
            "saferollout_record_writer_restarts",
            "Record-writer processes started again after one died (its batches were resent)",
            registry=r,
        )
        self.record_queue = Gauge(
            "saferollout_record_queue_depth",
            "Records waiting to be written (queued, or sent and not yet acknowledged)",
            registry=r,
        )
        # One cache lookup per request finds both children it updates.
        self._served: dict[tuple[str, str, int, str | None], tuple[Counter, Histogram]] = {}
        self._ttft: dict[tuple[str, str], Histogram] = {}
        self._tokens: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}

    def _gen_ai(self, version: str, endpoint: str) -> tuple[str, str, str]:
        return version, OPERATION_NAMES.get(endpoint, endpoint), self.models.get(version, "")

    def observe(
        self, version: str, endpoint: str, code: int, seconds: float, error: str | None = None
    ) -> None:
        """One served request: its count and duration (`error`: the failure kind)."""
        key = (version, endpoint, code, error)
        children = self._served.get(key)
        if children is None:
            children = self._served[key] = (
                self.requests.labels(version, endpoint, str(code)),
                self.duration.labels(*self._gen_ai(version, endpoint), error or ""),
            )
        children[0].inc()
        children[1].observe(seconds)

    def observe_ttft(
        self, version: str, seconds: float, endpoint: str = "chat.completions"
    ) -> None:
        key = (version, endpoint)
        child = self._ttft.get(key)
        if child is None:
            child = self._ttft[key] = self.ttft.labels(*self._gen_ai(version, endpoint))
        child.observe(seconds)

    def count_tokens(
        self, version: str, kind: str, counts: list[int], endpoint: str = "chat.completions"
    ) -> None:
        """Tokens of some requests (`kind`: input|output); called off the request path."""
        key = (version, kind, endpoint)
        children = self._tokens.get(key)
        if children is None:
            children = self._tokens[key] = (
                self.tokens.labels(version, kind),
                self.token_usage.labels(*self._gen_ai(version, endpoint), kind),
            )
        children[0].inc(sum(counts))
        observe = children[1].observe
        for n in counts:
            observe(n)

    def set_weights(self, weights: dict[str, float]) -> None:
        for version, pct in weights.items():
            self.weight.labels(version).set(pct)


class _VersionRollup(Collector):
    """A histogram summed over every label but `version`, built at scrape time.

    Keeps an older per-version name alive without a second observation on the
    request path: the source histogram's buckets are added up per version.
    """

    def __init__(self, source: Histogram, name: str, documentation: str) -> None:
        self.source = source
        self.name = name
        self.documentation = documentation

    def describe(self) -> list[Metric]:
        return [HistogramMetricFamily(self.name, self.documentation, labels=["version"])]

    def collect(self) -> Iterator[Metric]:
        buckets: dict[str, dict[str, float]] = {}  # version -> le -> cumulative count
        sums: dict[str, float] = {}
        for family in self.source.collect():
            for sample in family.samples:
                version = sample.labels["version"]
                if sample.name.endswith("_bucket"):
                    per_le = buckets.setdefault(version, {})
                    le = sample.labels["le"]
                    per_le[le] = per_le.get(le, 0.0) + sample.value
                elif sample.name.endswith("_sum"):
                    sums[version] = sums.get(version, 0.0) + sample.value
        family = HistogramMetricFamily(self.name, self.documentation, labels=["version"])
        for version, per_le in buckets.items():
            family.add_metric([version], list(per_le.items()), sums.get(version, 0.0))
        yield family
