"""The served-request metrics: plain lists on the request path, Prometheus families on scrape."""

from __future__ import annotations

import threading

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from saferollout.gateway._metrics import GatewayMetrics


def _samples(metrics: GatewayMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _get(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_served_requests_become_counters_and_histograms() -> None:
    m = GatewayMetrics({"stable": "model-a", "canary": "model-b"})
    for seconds in (0.004, 0.005, 0.02, 0.3, 200.0):  # 0.005 sits on a bound: le is <=
        m.observe("stable", "chat.completions", 200, seconds)
    m.observe("canary", "chat.completions", 502, 1.5, "connect")
    m.observe("canary", "embeddings", 200, 0.01)
    m.count_refused("chat.completions", 401)
    m.count_refused("chat.completions", 401)
    for seconds in (0.00004, 0.0003, 0.5):
        m.observe_overhead(seconds)
    s = _samples(m)

    requests = "saferollout_requests_total"
    assert _get(s, requests, version="stable", endpoint="chat.completions", code="200") == 5
    assert _get(s, requests, version="canary", endpoint="chat.completions", code="502") == 1
    assert _get(s, requests, version="none", endpoint="chat.completions", code="401") == 2

    duration = "gen_ai_client_operation_duration_seconds"
    chat_a = {"version": "stable", "gen_ai_operation_name": "chat"}
    chat_a |= {"gen_ai_request_model": "model-a", "error_type": ""}
    assert _get(s, duration + "_bucket", **chat_a, le="0.005") == 2
    assert _get(s, duration + "_bucket", **chat_a, le="0.025") == 3
    assert _get(s, duration + "_bucket", **chat_a, le="120.0") == 4
    assert _get(s, duration + "_bucket", **chat_a, le="+Inf") == 5
    assert _get(s, duration + "_count", **chat_a) == 5
    assert _get(s, duration + "_sum", **chat_a) == pytest.approx(200.329)
    failed = {"version": "canary", "gen_ai_operation_name": "chat"}
    failed |= {"gen_ai_request_model": "model-b", "error_type": "connect"}
    assert _get(s, duration + "_count", **failed) == 1

    # The per-version name sums every operation and outcome of the version.
    per_version = "saferollout_request_duration_seconds"
    assert _get(s, per_version + "_count", version="canary") == 2
    assert _get(s, per_version + "_sum", version="canary") == pytest.approx(1.51)
    assert _get(s, per_version + "_bucket", version="canary", le="0.01") == 1

    overhead = "saferollout_gateway_overhead_seconds"
    assert _get(s, overhead + "_count") == 3
    assert _get(s, overhead + "_bucket", le="5e-05") == 1
    assert _get(s, overhead + "_bucket", le="0.0005") == 2
    assert _get(s, overhead + "_bucket", le="+Inf") == 3


def test_a_scrape_during_traffic_sees_consistent_histograms() -> None:
    """Scrapes run in a worker thread while the event loop observes, without a lock."""
    m = GatewayMetrics({"stable": "model-a"})
    stop = threading.Event()
    seen: list[tuple[float, float, float]] = []

    def scrape() -> None:
        while not stop.is_set():
            s = _samples(m)
            key = ("saferollout_request_duration_seconds_count", (("version", "stable"),))
            if key in s:
                inf = _get(
                    s, "saferollout_request_duration_seconds_bucket", version="stable", le="+Inf"
                )
                served = _get(
                    s,
                    "saferollout_requests_total",
                    version="stable",
                    endpoint="chat.completions",
                    code="200",
                )
                seen.append((s[key], inf, served))

    scraper = threading.Thread(target=scrape)
    scraper.start()
    try:
        for i in range(200_000):
            m.observe("stable", "chat.completions", 200, (i % 100) / 1000)
    finally:
        stop.set()
        scraper.join()
    assert len(seen) > 3
    for count, inf, served in seen:
        assert count == inf == served
    assert [c for c, _, _ in seen] == sorted(c for c, _, _ in seen)
    assert (
        _get(
            _samples(m),
            "saferollout_requests_total",
            version="stable",
            endpoint="chat.completions",
            code="200",
        )
        == 200_000
    )
