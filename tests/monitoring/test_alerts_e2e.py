"""End to end: a Runtime (gateway, scoring worker, controller) with a regressed
candidate rolls back, and the alert receiver gets the rollback alert with both
versions' values, while another sink hangs."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from saferollout.cli._runtime import Runtime
from saferollout.config import parse_config
from saferollout.rollout import Phase
from saferollout.simulation import TrafficConfig, run_traffic, start_backend
from saferollout.store import Store

from .alert_receiver import AlertReceiver


def test_regressed_candidate_rollback_alert_reaches_the_receiver(tmp_path: Path) -> None:
    with (
        AlertReceiver() as rx,
        start_backend("stable", latency_ms=2, seed=1) as stable,
        start_backend("regressed", latency_ms=2, seed=2) as candidate,
    ):
        rx.hang("/hang")
        cfg = parse_config(
            f"""
name: e2e-alerts
versions:
  stable: {{url: "{stable.base_url}", model: v1}}
  candidate: {{url: "{candidate.base_url}", model: v2}}
stable: stable
candidate: candidate
strategy: {{type: canary, interval_s: 0.5, steps: [{{weight: 50, pause: {{}}}}]}}
storage: {{url: "sqlite:///{tmp_path / "e2e.db"}"}}
server: {{flush_interval_s: 0.1}}
triggers:
  - {{metric: harmful_compliance_rate, critical: true, min_samples: 100}}
  - {{metric: pii_leak_rate, critical: true, min_samples: 100}}
alerts:
  poll_interval_s: 0.2
  sinks:
    - {{name: stuck, type: webhook, url: "{rx.url}/hang", timeout_s: 30}}
    - {{name: hook, type: webhook, url: "{rx.url}/hook", kinds: [rollback]}}
""",
            env={},
        )
        store = Store(cfg.storage.url)
        runtime = Runtime.build(cfg, store)
        with runtime:
            gw = runtime.start_in_thread()
            for seed in range(8):
                run_traffic(
                    TrafficConfig(
                        base_url=gw.url, requests=400, harmful_share=0.5, concurrency=16, seed=seed
                    )
                )
                if runtime.controller.state.phase is Phase.ROLLED_BACK:
                    break
            [got] = rx.wait_for(lambda r: len(r) == 1, "/hook", timeout=30)
            # The stuck sink has held its first alert (rollout_started) all along.
            assert rx.attempts.get("/hang") == 1 and rx.received("/hang") == []
            assert runtime.controller.state.phase is Phase.ROLLED_BACK
            metrics = {
                s.name: s.value
                for f in text_string_to_metric_families(httpx.get(gw.url + "/metrics").text)
                for s in f.samples
                if s.name == "saferollout_alerts_sent_total"
                and s.labels == {"sink": "hook", "kind": "rollback", "outcome": "sent"}
            }
            stop_started = time.monotonic()
        assert time.monotonic() - stop_started < 20  # the stuck sink does not hold up shutdown
        store.close()
    body = got.body
    assert body["kind"] == "rollback" and body["rollout"] == "e2e-alerts"
    assert body["dashboard_url"] == gw.url + "/dashboard"
    metric = body["metric"] or body["metrics"][0]
    assert metric["name"] in ("harmful_compliance_rate", "pii_leak_rate")
    cand, stab = metric["candidate"], metric["stable"]
    assert (cand["version"], stab["version"]) == ("candidate", "stable")
    # Both versions' values with their intervals; the candidate is clearly worse.
    assert cand["interval"][0] <= cand["value"] <= cand["interval"][1]
    assert stab["interval"][0] <= stab["value"] <= stab["interval"][1]
    assert cand["interval"][0] > stab["value"] and cand["n"] >= 100 and stab["n"] >= 100
    assert metrics == {"saferollout_alerts_sent_total": 1.0}
