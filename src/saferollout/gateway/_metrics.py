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
(`_ServedCollector`, `_VersionRollup`), so both names cost the request path one
observation.

Served requests (their count, duration and the gateway's own overhead) are
not prometheus_client metrics on the request path: they are plain lists
updated by the event loop alone, turned into the same families at scrape time
(`_ServedCollector`). prometheus_client takes a lock per value and walks the
buckets in Python: its three observations per request took 2.9 us in a
loop (0.6 us as lists), and leaving them out raised the gateway's throughput
at 16 connections by ~8% (bench/README, session 5). Only the event-loop
thread writes the lists, so no lock: a scrape (in a worker thread) copies
each in one C call and derives a histogram's count from its buckets, so the
two always agree.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

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
                self.ttft,
                "saferollout_time_to_first_token_seconds",
                "Time from request to the first streamed byte, by version "
                "(gen_ai_server_time_to_first_token_seconds summed by version)",
            )
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
        # (version, endpoint, code, error kind) -> [sum of seconds, count per bucket...]
        self._served: dict[tuple[str, str, int, str | None], list[float]] = {}
        self._refused: dict[tuple[str, str], int] = {}  # (endpoint, code), version "none"
        self._overhead: list[float] = [0.0] * (len(_OVERHEAD_BUCKETS) + 2)
        r.register(_ServedCollector(self))
        self._ttft: dict[tuple[str, str], Histogram] = {}
        self._tokens: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}

    def _gen_ai(self, version: str, endpoint: str) -> tuple[str, str, str]:
        return version, OPERATION_NAMES.get(endpoint, endpoint), self.models.get(version, "")

    def observe(
        self, version: str, endpoint: str, code: int, seconds: float, error: str | None = None
    ) -> None:
        """One served request: its count and duration (`error`: the failure kind).
        Event-loop thread only."""
        key = (version, endpoint, code, error)
        acc = self._served.get(key)
        if acc is None:
            acc = self._served[key] = [0.0] * (len(_LATENCY_BUCKETS) + 2)
        acc[0] += seconds
        acc[1 + bisect.bisect_left(_LATENCY_BUCKETS, seconds)] += 1

    def observe_overhead(self, seconds: float) -> None:
        """Time the gateway itself added to a request. Event-loop thread only."""
        acc = self._overhead
        acc[0] += seconds
        acc[1 + bisect.bisect_left(_OVERHEAD_BUCKETS, seconds)] += 1

    def count_refused(self, endpoint: str, code: int) -> None:
        """A request refused before any version served it (version "none")."""
        key = (endpoint, str(code))
        self._refused[key] = self._refused.get(key, 0) + 1

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


class _ServedCollector(Collector):
    """Served requests' count, duration and overhead families, built at scrape time."""

    def __init__(self, metrics: GatewayMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> list[Metric]:
        return [
            CounterMetricFamily("saferollout_requests", "", labels=["version", "endpoint", "code"]),
            HistogramMetricFamily("gen_ai_client_operation_duration_seconds", ""),
            HistogramMetricFamily("saferollout_request_duration_seconds", ""),
            HistogramMetricFamily("saferollout_gateway_overhead_seconds", ""),
        ]

    def collect(self) -> Iterator[Metric]:
        m = self.metrics
        # One C call each: a consistent copy while the event loop goes on.
        served = [(key, list(acc)) for key, acc in list(m._served.items())]
        requests = CounterMetricFamily(
            "saferollout_requests",
            "Client requests served, by the version that answered",
            labels=["version", "endpoint", "code"],
        )
        counts: dict[tuple[str, str, str], float] = {}
        for (version, endpoint, code, _error), acc in served:
            key = (version, endpoint, str(code))
            counts[key] = counts.get(key, 0) + sum(acc[1:])
        for (endpoint, code), n in list(m._refused.items()):
            counts[("none", endpoint, code)] = n
        for labels, n in counts.items():
            requests.add_metric(list(labels), n)
        yield requests

        duration: dict[tuple[str, str, str, str], list[float]] = {}
        per_version: dict[str, list[float]] = {}
        for (version, endpoint, _code, error), acc in served:
            _add_into(duration, (*m._gen_ai(version, endpoint), error or ""), acc)
            _add_into(per_version, version, acc)
        family = HistogramMetricFamily(
            "gen_ai_client_operation_duration_seconds",
            "Time from request to last byte, by version, operation and model; error_type "
            "is the failure kind, empty on success (gen_ai.client.operation.duration)",
            labels=[*_GEN_AI_LABELS, "error_type"],
        )
        for labels, acc in duration.items():
            family.add_metric(list(labels), *_buckets(_LATENCY_BUCKETS, acc))
        yield family
        family = HistogramMetricFamily(
            "saferollout_request_duration_seconds",
            "Time from request to last byte, by version "
            "(gen_ai_client_operation_duration_seconds summed by version)",
            labels=["version"],
        )
        for version, acc in per_version.items():
            family.add_metric([version], *_buckets(_LATENCY_BUCKETS, acc))
        yield family
        family = HistogramMetricFamily(
            "saferollout_gateway_overhead_seconds",
            "Time the gateway itself added: total minus time waiting on upstream",
        )
        family.add_metric([], *_buckets(_OVERHEAD_BUCKETS, list(m._overhead)))
        yield family


def _add_into(into: dict[Any, list[float]], key: Any, acc: list[float]) -> None:
    total = into.get(key)
    if total is None:
        into[key] = list(acc)
    else:
        for i, x in enumerate(acc):
            total[i] += x


def _buckets(bounds: tuple[float, ...], acc: list[float]) -> tuple[list[tuple[str, float]], float]:
    """([(le, cumulative count)], sum) from [sum, count per bucket..., count above]."""
    out, running = [], 0.0
    for bound, n in zip((*bounds, float("inf")), acc[1:], strict=True):
        running += n
        out.append((floatToGoString(bound), running))
    return out, acc[0]
