"""Probing a blue/green preview through a real gateway (Runtime on loopback)."""

from __future__ import annotations

from pathlib import Path

import pytest

from saferollout.cli._runtime import Runtime
from saferollout.config import parse_config
from saferollout.preflight import default_suite_paths, load_suite, probe_preview
from saferollout.simulation import BackendHandle
from saferollout.store import Store

TOKEN = "probe-admin-token"


def blue_green_yaml(
    stable: BackendHandle, candidate: BackendHandle, tmp_path: Path, probe: str = "{enabled: false}"
) -> str:
    return f"""
name: bg
versions:
  blue: {{url: "{stable.base_url}", model: m1}}
  green: {{url: "{candidate.base_url}", model: m2}}
stable: blue
candidate: green
strategy: {{type: blue_green, interval_s: 60, preview_probe: {probe}}}
storage: {{url: "sqlite:///{tmp_path / "bg.db"}"}}
server: {{flush_interval_s: 0.1}}
"""


@pytest.mark.parametrize("servers", ["healthy"], indirect=True)
def test_probe_reaches_the_preview_and_is_recorded(
    servers: tuple[BackendHandle, BackendHandle], tmp_path: Path
) -> None:
    stable, candidate = servers
    config = parse_config(blue_green_yaml(stable, candidate, tmp_path))
    items = load_suite(default_suite_paths()[1])[:6]
    store = Store(config.storage.url)
    runtime = Runtime.build(config, store, admin_token=TOKEN)
    try:
        handle = runtime.start_in_thread(scoring=False)
        before = candidate.backend.stats().get("requests", 0)
        result = probe_preview(handle.url, "green", TOKEN, items=items, load_requests=10)
        # Without the token a gateway that has one refuses the override.
        refused = probe_preview(handle.url, "green", None, items=items[:1])
    finally:
        runtime.stop()
    assert result.sent == 16 and result.ok == 16 and not result.errors
    assert refused.ok == 0 and refused.errors == {"http_403": 1}
    assert dict(result.served_by) == {"green": 16}
    assert candidate.backend.stats()["requests"] - before == 16
    assert result.percentile(0.5) is not None
    recorded = [store.interaction_version(rid) for rid in result.request_ids]
    store.close()
    assert recorded == ["green"] * 16


@pytest.mark.parametrize("servers", ["healthy"], indirect=True)
def test_probe_with_a_wrong_token_is_refused(
    servers: tuple[BackendHandle, BackendHandle], tmp_path: Path
) -> None:
    stable, candidate = servers
    config = parse_config(blue_green_yaml(stable, candidate, tmp_path))
    items = load_suite(default_suite_paths()[1])[:2]
    store = Store(config.storage.url)
    runtime = Runtime.build(config, store, admin_token=TOKEN)
    try:
        handle = runtime.start_in_thread(scoring=False)
        result = probe_preview(handle.url, "green", "wrong", items=items)
    finally:
        runtime.stop()
        store.close()
    assert result.ok == 0 and result.errors == {"http_403": 2}


@pytest.mark.parametrize("servers", ["healthy"], indirect=True)
def test_the_runtime_probes_a_blue_green_preview_once_by_itself(
    servers: tuple[BackendHandle, BackendHandle], tmp_path: Path
) -> None:
    import time

    stable, candidate = servers
    probe = "{items_per_suite: 2, load_requests: 4, concurrency: 2}"
    text = blue_green_yaml(stable, candidate, tmp_path, probe=probe)

    def probed(store: Store) -> list[dict]:
        return [e for e in store.list_events("bg") if e["kind"] == "preview_probed"]

    for run in range(2):  # the second start resumes the same rollout: no second probe
        store = Store(parse_config(text).storage.url)
        runtime = Runtime.build(parse_config(text), store, admin_token=TOKEN)
        try:
            runtime.start_in_thread(scoring=False)
            deadline = time.monotonic() + 30
            while not probed(store) and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.5 if run else 0.3)  # the writer's flush
        finally:
            runtime.stop()
        [event] = probed(store)
        # 2 prompts from each of the 3 shipped suites, then 4 more: all to the preview.
        assert (event["data"]["sent"], event["data"]["ok"]) == (10, 10)
        assert store.count_interactions() == 10
        assert {r["version"] for r in store.list_interactions()} == {"green"}
        store.close()
