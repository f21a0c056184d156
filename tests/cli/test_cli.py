"""The `saferollout` command as users run it: real subprocesses."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from saferollout.simulation import Profile, start_backend
from saferollout.store import Store

from ..servers import free_port, wait_ready

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "saferollout"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60, env=env)


def test_help_lists_commands() -> None:
    out = run("--help")
    assert out.returncode == 0
    for name in ("serve", "demo", "config", "simulate-backend"):
        assert name in out.stdout


def test_config_validate_ok_and_errors(tmp_path: Path) -> None:
    ok = run("config", "validate", str(ROOT / "examples" / "rollout.yaml"))
    assert ok.returncode == 0 and ok.stdout.strip() == "OK"
    bad = tmp_path / "bad.yaml"
    bad.write_text("versions:\n  a: {url: 'x', model: m}\nstable: a\ncandidate: b\nextra: 1\n")
    out = run("config", "validate", str(bad))
    assert out.returncode == 2 and out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert f"{bad}: line 2: versions.a.url: must start with http:// or https://" in lines
    assert f"{bad}: line 5: extra: unknown key" in lines
    missing = run("config", "validate", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_config_schema_and_hash() -> None:
    schema = json.loads(run("config", "schema").stdout)
    assert schema["additionalProperties"] is False
    assert {"versions", "stable", "candidate", "strategy", "storage"} <= set(schema["properties"])
    h = run("config", "hash", str(ROOT / "examples" / "rollout.yaml"))
    assert h.returncode == 0 and len(h.stdout.strip()) == 64


def test_bad_usage_exits_2() -> None:
    assert run("serve").returncode == 2
    assert run("no-such-command").returncode == 2


def test_serve_drains_and_flushes_on_sigterm(tmp_path: Path) -> None:
    calm = Profile(name="calm", error_rate=0.0)
    with (
        start_backend(calm, latency_ms=300) as stable,
        start_backend(calm, latency_ms=300) as canary,
    ):
        db = tmp_path / "serve.db"
        port = free_port()
        config = tmp_path / "rollout.yaml"
        config.write_text(
            f"""
versions:
  stable: {{url: "{stable.base_url}", model: m1}}
  canary: {{url: "{canary.base_url}", model: m2}}
stable: stable
candidate: canary
strategy: {{steps: [{{weight: 10}}]}}
storage: {{url: "sqlite:///{db}"}}
server: {{port: {port}, flush_interval_s: 2}}
"""
        )
        log = tmp_path / "serve.log"
        with log.open("w") as log_file:
            proc = subprocess.Popen(
                [*CLI, "serve", "-c", str(config), "--force-without-preflight", "--no-report"],
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(url, proc, log)

            async def traffic() -> list[int]:
                async with aiohttp.ClientSession() as session:

                    async def one(i: int) -> int:
                        body = {
                            "messages": [{"role": "user", "content": f"hello {i}"}],
                            "stream": i % 2 == 0,
                        }
                        async with session.post(url + "/v1/chat/completions", json=body) as r:
                            await r.read()
                            return r.status

                    tasks = [asyncio.create_task(one(i)) for i in range(30)]
                    # Stop only once all 30 wait on the 300 ms models: a request that
                    # had not reached the gateway yet would rightly be refused.
                    for _ in range(500):
                        arrived = sum(b.stats().get("requests", 0) for b in (stable, canary))
                        if arrived >= 30:
                            break
                        await asyncio.sleep(0.01)
                    proc.send_signal(signal.SIGTERM)
                    return await asyncio.gather(*tasks)

            statuses = asyncio.run(traffic())
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert statuses == [200] * 30
        store = Store(f"sqlite:///{db}")
        # flush_interval_s is 2 s and the process exited sooner: only the
        # shutdown flush can have written these.
        assert store.count_interactions() == 30
        store.close()


def test_serve_refuses_missing_secret_env(tmp_path: Path) -> None:
    config = tmp_path / "rollout.yaml"
    config.write_text(
        """
versions:
  stable: {url: "http://127.0.0.1:9/v1", model: m1, api_key_env: SR_TEST_KEY_THAT_IS_UNSET}
  canary: {url: "http://127.0.0.1:9/v1", model: m2}
stable: stable
candidate: canary
"""
        + f'storage: {{url: "sqlite:///{tmp_path / "x.db"}"}}\n'
    )
    env = {k: v for k, v in os.environ.items() if k != "SR_TEST_KEY_THAT_IS_UNSET"}
    out = run("serve", "-c", str(config), env=env)
    assert out.returncode == 2
    assert "SR_TEST_KEY_THAT_IS_UNSET is not set" in out.stderr


def test_demo_cli_writes_reports_and_exits_by_its_decision(tmp_path: Path) -> None:
    # The quickest scenario through the real command: preflight blocks the candidate.
    out = run("demo", "--scenario", "preflight-fail", "--out", str(tmp_path), "--speed", "20")
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["decision"] == "blocked" and report["lost_records"] == 0
    assert "decision: blocked (expected blocked)" in " ".join(out.stderr.split())
    assert (tmp_path / "report.html").exists()
    bad = run("demo", "--scenario", "nope")
    assert bad.returncode == 2 and "nope" in bad.stderr


def test_drill_practises_a_rollback(tmp_path: Path) -> None:
    calm = Profile(name="calm", error_rate=0.0)
    with start_backend(calm, latency_ms=2) as stable, start_backend(calm, latency_ms=2) as canary:
        config = tmp_path / "rollout.yaml"
        config.write_text(
            f"""
name: prod
versions:
  stable: {{url: "{stable.base_url}", model: m1}}
  canary: {{url: "{canary.base_url}", model: m2}}
stable: stable
candidate: canary
storage: {{url: "sqlite:///{tmp_path / "prod.db"}"}}
clients: {{keys: {{web: {{key_env: DRILL_TEST_UNSET_KEY}}}}}}  # the drill's traffic has no key
"""
        )
        out = run("drill", "-c", str(config), "--requests", "100", "--out", str(tmp_path / "drill"))
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads((tmp_path / "drill" / "drill-report.json").read_text())
    assert report["passed"] is True and all(report["checks"].values())
    assert report["requests_sent"] == report["records_written"] == 200
    assert report["phases_s"]["trigger_to_rolled_back_s"] < 10
    assert [e["kind"] for e in report["events"]][-1] == "rolled_back"
    # The drill ran on a scratch store: the production rollout state is untouched.
    assert not (tmp_path / "prod.db").exists()


def test_serve_refuses_missing_client_key_before_a_forced_start(tmp_path: Path) -> None:
    """A start refused for bad input records nothing, not even the forced-start audit event."""
    db = tmp_path / "x.db"
    config = tmp_path / "rollout.yaml"
    config.write_text(
        """
versions:
  stable: {url: "http://127.0.0.1:9/v1", model: m1}
  canary: {url: "http://127.0.0.1:9/v1", model: m2}
stable: stable
candidate: canary
clients: {keys: {web: {key_env: SR_TEST_CLIENT_KEY_THAT_IS_UNSET}}}
"""
        + f'storage: {{url: "sqlite:///{db}"}}\n'
    )
    env = {k: v for k, v in os.environ.items() if k != "SR_TEST_CLIENT_KEY_THAT_IS_UNSET"}
    out = run("serve", "-c", str(config), "--force-without-preflight", env=env)
    assert out.returncode == 2
    assert "clients.keys.web.key_env" in out.stderr
    assert "SR_TEST_CLIENT_KEY_THAT_IS_UNSET is not set" in out.stderr
    assert Store(f"sqlite:///{db}").list_events(None) == []
