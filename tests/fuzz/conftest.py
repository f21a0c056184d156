"""Fuzzing fixtures: one real gateway + controller on loopback for the whole module,
and the counts that the session summary prints ("fuzz cases run with 0 server errors")."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from saferollout.cli._runtime import Runtime
from saferollout.config import ClientsConfig, RolloutConfig
from saferollout.gateway import Gateway, start_gateway
from saferollout.simulation import start_backend
from saferollout.store import Store

from ..gateway.conftest import CALM, make_config

ADMIN_TOKEN = "fuzz-admin-t0ken"
CLIENT_KEY = "fuzz-client-key-0123456789abcdef"
# Filled by the tests, printed by pytest_terminal_summary: "api" counts HTTP
# cases by token use and status class, "config" counts YAML documents loaded.
STATS: Counter[str] = Counter()


@dataclass
class FuzzTarget:
    url: str
    config: RolloutConfig
    store: Store


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    """The same runtime `serve` builds (gateway, controller, admin API), scoring off,
    in front of two simulated model servers; the admin token is set."""
    db: Path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    with (
        start_backend(CALM, latency_ms=1) as stable,
        start_backend(CALM, latency_ms=1) as canary,
    ):
        config = make_config(stable.base_url, canary.base_url)
        store = Store(f"sqlite:///{db}")
        runtime = Runtime.build(config, store, admin_token=ADMIN_TOKEN)
        with runtime:
            handle = runtime.start_in_thread(scoring=False)
            _wait_for_leader(handle.url)
            yield FuzzTarget(handle.url, config, store)
        store.close()


@pytest.fixture(scope="module")
def clients_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    """A gateway with `clients:` configured: one key that may use stable only
    (the candidate's share is pinned to stable), under a rate limit."""
    db: Path = tmp_path_factory.mktemp("fuzz-clients") / "fuzz.db"
    with (
        pytest.MonkeyPatch.context() as env,
        start_backend(CALM, latency_ms=1) as stable,
        start_backend(CALM, latency_ms=1) as canary,
    ):
        env.setenv("FUZZ_CLIENT_KEY", CLIENT_KEY)
        clients = ClientsConfig.model_validate(
            {
                "keys": {
                    "fuzzer": {
                        "key_env": "FUZZ_CLIENT_KEY",
                        "versions": ["stable"],
                        "rate_limit": {"requests_per_minute": 600, "burst": 300},
                    }
                }
            }
        )
        config = make_config(stable.base_url, canary.base_url).model_copy(
            update={"clients": clients}
        )
        store = Store(f"sqlite:///{db}")
        with start_gateway(Gateway(config, store, admin_token=ADMIN_TOKEN)) as handle:
            yield FuzzTarget(handle.url, config, store)
        store.close()


def _wait_for_leader(url: str) -> None:
    """Admin actions answer 503 until the controller holds its lease."""
    deadline = time.monotonic() + 20
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    while time.monotonic() < deadline:
        snap = httpx.get(url + "/admin/rollout", headers=auth).json()
        if snap.get("replica", {}).get("leader"):
            return
        time.sleep(0.05)
    raise AssertionError("the controller did not take the lease")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not STATS:
        return
    lines = []
    api = {k.split(":", 1)[1]: v for k, v in STATS.items() if k.startswith("api:")}
    if api:
        total = sum(api.values())
        server_errors = sum(v for k, v in api.items() if k.endswith(":5xx"))
        lines.append(f"API cases: {total}, server errors (5xx): {server_errors}")
        for label in sorted({k.split(":")[0] for k in api}):
            statuses = sorted(
                (int(k.rsplit(":", 1)[1]), v)
                for k, v in STATS.items()
                if k.startswith(f"status:{label}:")
            )
            lines.append(f"  {label}: " + ", ".join(f"{code} x{n}" for code, n in statuses))
    if STATS["config"]:
        lines.append(
            f"config documents: {STATS['config']} (loaded {STATS['config:ok']}, "
            f"ConfigError {STATS['config:error']}, other exceptions 0); "
            f"CLI runs: {STATS['cli']}"
        )
    terminalreporter.write_sep("-", "fuzz summary")
    for line in lines:
        terminalreporter.write_line(line)
