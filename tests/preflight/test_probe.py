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


@pytest.mark.parametrize("servers", ["healthy"], indirect=True)
def test_probe_reaches_the_preview_and_is_recorded(
    servers: tuple[BackendHandle, BackendHandle], tmp_path: Path
) -> None:
    stable, candidate = servers
    config = parse_config(
        f"""
name: bg
versions:
  blue: {{url: "{stable.base_url}", model: m1}}
  green: {{url: "{candidate.base_url}", model: m2}}
stable: blue
candidate: green
strategy: {{type: blue_green, interval_s: 60}}
storage: {{url: "sqlite:///{tmp_path / "bg.db"}"}}
server: {{flush_interval_s: 0.1}}
"""
    )
    items = load_suite(default_suite_paths()[1])[:6]
    store = Store(config.storage.url)
    runtime = Runtime.build(config, store, admin_token=TOKEN)
    try:
        handle = runtime.start_in_thread(scoring=False)
        before = candidate.backend.stats().get("requests", 0)
        result = probe_preview(handle.url, "green", TOKEN, items=items, load_requests=10)
        with pytest.raises(ValueError, match="admin token"):
            probe_preview(handle.url, "green", "", items=items)
    finally:
        runtime.stop()
    assert result.sent == 16 and result.ok == 16 and not result.errors
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
    config = parse_config(
        f"""
name: bg
versions:
  blue: {{url: "{stable.base_url}", model: m1}}
  green: {{url: "{candidate.base_url}", model: m2}}
stable: blue
candidate: green
strategy: {{type: blue_green, interval_s: 60}}
storage: {{url: "sqlite:///{tmp_path / "bg.db"}"}}
"""
    )
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
