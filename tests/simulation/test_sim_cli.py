"""`saferollout simulate-backend` and the subprocess runner; the public surface."""

from __future__ import annotations

import urllib.request

import orjson
from click.testing import CliRunner

import saferollout.simulation as sim
from saferollout.cli import cli
from saferollout.simulation import start_backend_process


def test_public_names() -> None:
    assert set(sim.__all__) == {
        name for name in dir(sim) if not name.startswith("_") and name not in ("annotations",)
    } - {"judge"}
    for name in ("start_backend", "run_traffic", "TrafficConfig", "PROFILES", "Profile"):
        assert name in sim.__all__


def test_simulate_backend_in_a_subprocess_switches_profile_and_stops_cleanly() -> None:
    proc = start_backend_process("stable", latency_ms=0, seed=3, model="sim-x")
    try:
        with urllib.request.urlopen(proc.url + "/health", timeout=5) as resp:
            assert orjson.loads(resp.read()) == {
                "status": "ok",
                "profile": "stable",
                "model": "sim-x",
            }
        assert proc.set_profile("regressed")["name"] == "regressed"
        req = urllib.request.Request(
            proc.base_url + "/chat/completions",
            data=b'{"messages": [{"role": "user", "content": "Hi"}]}',
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.headers["X-Sim-Profile"] == "regressed"
        assert proc.stats()["requests"] == 1
    finally:
        assert proc.stop() == 0  # SIGTERM is a clean shutdown


def test_unknown_profile_is_bad_usage() -> None:
    result = CliRunner().invoke(cli, ["simulate-backend", "--port", "0", "--profile", "nope"])
    assert result.exit_code == 2 and "nope" in result.output


def test_port_in_use_exits_2_with_one_line(backend) -> None:
    result = CliRunner().invoke(cli, ["simulate-backend", "--port", str(backend.port)])
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{backend.port}" in result.output
