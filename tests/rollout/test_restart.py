"""Kill the server mid-rollout (SIGKILL) and start it again: it resumes exactly."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx

from saferollout.simulation import Profile, start_backend
from saferollout.store import Store

from ..servers import free_port, start_serve, wait_ready


def test_sigkill_mid_step_resumes_same_step_weights_and_start(tmp_path: Path) -> None:
    calm = Profile(name="calm", error_rate=0.0)
    with start_backend(calm, latency_ms=1) as stable, start_backend(calm, latency_ms=1) as canary:
        port = free_port()
        db = tmp_path / "r.db"
        config = tmp_path / "rollout.yaml"
        config.write_text(
            f"""
name: restart
versions:
  stable: {{url: "{stable.base_url}", model: a}}
  canary: {{url: "{canary.base_url}", model: b}}
stable: stable
candidate: canary
strategy:
  interval_s: 0.2
  steps: [{{weight: 5, pause: {{}}}}, {{weight: 30, pause: {{seconds: 3600}}}}, {{weight: 60}}]
storage: {{url: "sqlite:///{db}"}}
server: {{port: {port}, flush_interval_s: 0.1}}
"""
        )
        url = f"http://127.0.0.1:{port}"
        log = tmp_path / "serve.log"
        proc = start_serve(config, log)
        try:
            wait_ready(url, proc, log)
            httpx.post(url + "/admin/rollout/promote")  # to step 2: 30%, a one-hour pause
            before = httpx.get(url + "/admin/rollout").json()
            with httpx.Client(base_url=url) as client:
                for i in range(200):
                    client.post(
                        "/v1/chat/completions",
                        json={"messages": [{"role": "user", "content": f"hi {i}"}]},
                        headers={"X-Session-Id": f"s{i}"},
                    )
            time.sleep(0.5)  # past the flush interval
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            proc = start_serve(config, log)
            wait_ready(url, proc, log)
            after = httpx.get(url + "/admin/rollout").json()
        finally:
            proc.kill()
            proc.wait(10)
    assert before["rollout"]["step_index"] == after["rollout"]["step_index"] == 1
    assert after["weights"] == {"stable": 70.0, "canary": 30.0}
    assert after["rollout"]["step_started_at"] == before["rollout"]["step_started_at"]
    assert after["rollout"]["started_at"] == before["rollout"]["started_at"]
    store = Store(f"sqlite:///{db}")
    # Everything served before the kill had been flushed (0.5 s > the 0.1 s interval).
    assert store.count_interactions() == 200
    all_kinds = [e["kind"] for e in store.list_events("restart")]
    assert all_kinds.count("preflight_forced") == 2  # each start was forced (and audited)
    kinds = [k for k in all_kinds if k != "preflight_forced"]
    store.close()
    assert kinds == ["rollout_started", "step_advanced"]  # no second start after the restart
