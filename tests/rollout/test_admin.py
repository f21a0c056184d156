"""The admin API and the operator CLI against a real running gateway + controller."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from saferollout.cli._runtime import Runtime
from saferollout.config import parse_config
from saferollout.gateway import GatewayHandle
from saferollout.simulation import Profile, start_backend
from saferollout.store import Store

TOKEN = "adm1n-s3cret"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[GatewayHandle, Store]]:
    calm = Profile(name="calm", error_rate=0.0)
    with start_backend(calm, latency_ms=1) as stable, start_backend(calm, latency_ms=1) as canary:
        cfg = parse_config(
            f"""
name: adm
versions:
  stable: {{url: "{stable.base_url}", model: a}}
  canary: {{url: "{canary.base_url}", model: b}}
stable: stable
candidate: canary
strategy: {{steps: [{{weight: 5, pause: {{}}}}, {{weight: 50, pause: {{}}}}]}}
storage: {{url: "sqlite:///{tmp_path / "adm.db"}"}}
""",
            env={},
        )
        store = Store(cfg.storage.url)
        runtime = Runtime.build(cfg, store, admin_token=TOKEN)
        with runtime:
            handle = runtime.start_in_thread(scoring=False)
            # These tests act on a leading replica: one still being elected would
            # forward actions and wait for a leader instead.
            deadline = time.monotonic() + 10
            while not runtime.replica.is_leader and time.monotonic() < deadline:
                time.sleep(0.02)
            assert runtime.replica.is_leader
            yield handle, store
        store.close()


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_admin_routes_need_the_token(server: tuple[GatewayHandle, Store]) -> None:
    gw, _ = server
    for method, path in [
        ("GET", "/admin/rollout"),
        ("POST", "/admin/rollout/pause"),
        ("GET", "/admin/analysis"),
        ("GET", "/admin/events"),
        ("GET", "/admin/sessions?version=canary"),
    ]:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            r = httpx.request(method, gw.url + path, headers=headers)
            assert r.status_code == 401, (method, path, headers)
            assert r.json()["error"]["type"] == "authentication_error"
            assert TOKEN not in r.text


def test_status_and_actions_over_http(server: tuple[GatewayHandle, Store]) -> None:
    gw, store = server
    snap = httpx.get(gw.url + "/admin/rollout", headers=AUTH).json()
    assert snap["rollout"]["phase"] == "progressing" and snap["weights"] == {
        "stable": 95.0,
        "canary": 5.0,
    }
    r = httpx.post(
        gw.url + "/admin/rollout/promote",
        headers={**AUTH, "X-Actor": "dana"},
        json={"reason": "looks good"},
    )
    assert r.status_code == 200 and r.json()["weights"]["canary"] == 50.0
    assert store.list_events("adm")[-1]["actor"] == "admin:dana"
    analysis = httpx.get(gw.url + "/admin/analysis", headers=AUTH).json()
    assert {"decision", "healthy", "failing", "verdicts", "phase"} <= set(analysis)


def test_bad_admin_calls_change_nothing(server: tuple[GatewayHandle, Store]) -> None:
    gw, store = server
    before = httpx.get(gw.url + "/admin/rollout", headers=AUTH).json()
    events = len(store.list_events("adm"))
    r = httpx.post(gw.url + "/admin/rollout/resume", headers=AUTH)
    assert r.status_code == 409 and "not paused" in r.json()["error"]["message"]
    r = httpx.post(gw.url + "/admin/rollout/explode", headers=AUTH)
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_action"
    r = httpx.post(gw.url + "/admin/rollout/promote", headers=AUTH, content=b"{not json")
    assert r.status_code == 400
    r = httpx.post(gw.url + "/admin/rollout/promote", headers=AUTH, json={"full": "yes"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "full"
    r = httpx.post(gw.url + "/admin/rollout/switch", headers=AUTH)
    assert r.status_code == 409
    assert httpx.get(gw.url + "/admin/rollout", headers=AUTH).json()["rollout"] == before["rollout"]
    assert len(store.list_events("adm")) == events


def cli(*args: str, token: str | None = TOKEN) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SAFEROLLOUT_ADMIN_TOKEN"}
    if token is not None:
        env["SAFEROLLOUT_ADMIN_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "saferollout", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_operator_cli(server: tuple[GatewayHandle, Store]) -> None:
    gw, store = server
    status = cli("status", "--server", gw.url, "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["rollout"]["phase"] == "progressing"
    assert cli("status", "--server", gw.url, token=None).returncode == 2  # no token: 401
    paused = cli("pause", "--server", gw.url, "--reason", "investigating")
    assert paused.returncode == 0 and "paused" in paused.stdout
    again = cli("pause", "--server", gw.url)
    assert again.returncode == 2 and "already paused" in again.stderr
    assert cli("resume", "--server", gw.url).returncode == 0
    rolled = cli("rollback", "--server", gw.url, "--reason", "drill")
    assert rolled.returncode == 0 and "rolled_back" in rolled.stdout
    kinds = [e["kind"] for e in store.list_events("adm")]
    assert kinds[-3:] == ["paused", "resumed", "rolled_back"]
    unreachable = cli("status", "--server", "http://127.0.0.1:9")
    assert unreachable.returncode == 1 and "cannot reach" in unreachable.stderr


def test_flagger_webhook_answers_by_the_verdict(server: tuple[GatewayHandle, Store]) -> None:
    gw, _store = server
    payload = {"name": "chat", "namespace": "llm", "phase": "Progressing", "metadata": {}}
    url = gw.url + "/admin/flagger/check"
    # Flagger cannot send headers: the token may come in the metadata.
    assert httpx.post(url, json=payload).status_code == 401
    wrong = {**payload, "metadata": {"token": "nope"}}
    assert httpx.post(url, json=wrong).status_code == 401
    ok = {**payload, "metadata": {"token": TOKEN}}
    r = httpx.post(url, json=ok)
    assert r.status_code == 200 and r.json()["healthy"] is True
    assert httpx.post(url, json=payload, headers=AUTH).status_code == 200
    # A promotion gate needs the analysis to say advance; with no data it holds.
    gate = {**payload, "metadata": {"token": TOKEN, "gate": "promotion"}}
    r = httpx.post(url, json=gate)
    assert r.status_code == 412 and r.json()["decision"] != "advance"
    bad = {**payload, "metadata": {"token": TOKEN, "gate": "sometimes"}}
    assert httpx.post(url, json=bad).status_code == 400
    # After a rollback the health check fails too.
    httpx.post(gw.url + "/admin/rollout/rollback", headers=AUTH)
    r = httpx.post(url, json=ok)
    assert r.status_code == 412 and r.json()["healthy"] is False


def test_an_action_the_store_cannot_take_is_a_clear_503(
    server: tuple[GatewayHandle, Store],
) -> None:
    import sqlalchemy as sa

    gw, store = server
    with store.engine.begin() as conn:  # the database loses the table mid-rollout
        conn.execute(sa.text("DROP TABLE rollout_state"))
    r = httpx.post(gw.url + "/admin/rollout/pause", headers=AUTH)
    assert r.status_code == 503
    error = r.json()["error"]
    assert error["code"] == "controller_unavailable" and "pause" in error["message"]
