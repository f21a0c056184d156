"""`serve` writes the report of a decision by itself: once, from the leader, also
across a restart; a failed write is logged with its path and retried."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from markupsafe import escape

from saferollout.cli._report import REPORT_EVENT, DecisionReporter, write_decision_report
from saferollout.config import parse_config
from saferollout.rollout import Controller, TriggerJudge
from saferollout.simulation import Profile, TrafficConfig, run_traffic, start_backend
from saferollout.store import Store

from ..monitoring.logs_seed import T0, seed
from ..servers import free_port, start_serve, wait_ready

TOKEN_ENV = "SR_REPORT_TEST_ADMIN_TOKEN"
TOKEN = "report-test-admin-t0ken-7f3a9c"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DIR_NAME = re.compile(r"^regress-rolled_back-\d{8}T\d{6}Z$")


def _serve(config: Path, cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    """`serve` in `cwd`, so the default report dir lands there; no gate (tests the report)."""
    flags = ("--no-scoring", "--force-without-preflight")
    return start_serve(config, log, *flags, cwd=cwd, env={**os.environ, TOKEN_ENV: TOKEN})


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _wait(predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return bool(predicate())


def _report_events(db: Path) -> list[dict]:
    store = Store(f"sqlite:///{db}")
    try:
        return [e for e in store.list_events("regress") if e["kind"] == REPORT_EVENT]
    finally:
        store.close()


def test_serve_writes_one_report_per_decision_across_a_restart(tmp_path: Path) -> None:
    calm = Profile(name="calm", error_rate=0.0)
    broken = Profile(name="broken", error_rate=0.6)
    with (
        start_backend(calm, latency_ms=1, seed=1) as stable,
        start_backend(broken, latency_ms=1, seed=2) as candidate,
    ):
        port = free_port()
        db = tmp_path / "serve.db"
        config = tmp_path / "rollout.yaml"
        config.write_text(
            f"""
name: regress
versions:
  stable: {{url: "{stable.base_url}", model: v1}}
  candidate: {{url: "{candidate.base_url}", model: v2}}
stable: stable
candidate: candidate
strategy: {{type: canary, interval_s: 0.2, steps: [{{weight: 50, pause: {{}}}}]}}
storage: {{url: "sqlite:///{db}"}}
server: {{port: {port}, flush_interval_s: 0.05, admin_token_env: {TOKEN_ENV}}}
triggers:
  - {{metric: error_rate, critical: true, min_samples: 40}}
"""
        )
        url = f"http://127.0.0.1:{port}"
        log = tmp_path / "serve.log"
        reports = tmp_path / "saferollout-reports"  # serve's default, relative to its cwd

        def phase() -> str:
            return httpx.get(url + "/admin/rollout", headers=AUTH).json()["rollout"]["phase"]

        proc = _serve(config, tmp_path, log)
        try:
            wait_ready(url, proc, log)
            for i in range(10):
                run_traffic(TrafficConfig(base_url=url, requests=100, concurrency=8, seed=i))
                if phase() == "rolled_back":
                    break
            assert _wait(lambda: phase() == "rolled_back", 10), log.read_text()
            assert _wait(lambda: reports.exists() and any(reports.iterdir()), 20), log.read_text()
            assert _wait(lambda: len(_report_events(db)) == 1, 5), log.read_text()
        finally:
            assert _stop(proc) == 0
        (written,) = reports.iterdir()
        assert DIR_NAME.match(written.name), written.name
        document = json.loads((written / "report.json").read_text())
        served = document["rollout_report"]
        assert served["decision"] == "rolled_back" and served["phase"] == "rolled_back"
        reason = served["reason"]["text"]
        assert "error_rate" in reason
        html = (written / "report.html").read_text()
        assert str(escape(reason)) in html
        (event,) = _report_events(db)
        assert event["data"]["decision_event"] == served["decision_event"]["id"]
        assert event["data"]["dir"] == str(written)

        # A restart after the decision finds the report on record: no second one.
        mark = len(log.read_text())
        proc = _serve(config, tmp_path, log)
        try:
            wait_ready(url, proc, log)
            assert phase() == "rolled_back"
            assert _wait(lambda: "already written to" in log.read_text()[mark:], 10), (
                log.read_text()[mark:]
            )
        finally:
            assert _stop(proc) == 0
        assert [p.name for p in reports.iterdir()] == [written.name]
        assert len(_report_events(db)) == 1

        # `saferollout report` on that store gives the same report.
        again = tmp_path / "again"
        out = subprocess.run(
            [sys.executable, "-m", "saferollout", "report", "-c", str(config), "--out", str(again)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        assert out.returncode == 0, out.stderr
        assert "rolled_back" in out.stdout and str(again / "report.html") in out.stdout
        cli = json.loads((again / "report.json").read_text())["rollout_report"]
        for key in ("decision", "reason", "decided_at", "requests", "verdicts", "started_at"):
            assert cli[key] == served[key], key
        assert cli["decision_event"]["id"] == served["decision_event"]["id"]
    # Neither the report files nor the output carry the admin token.
    for path in [*written.iterdir(), *again.iterdir()]:
        assert TOKEN not in path.read_text()
    assert TOKEN not in out.stdout + out.stderr


@pytest.fixture
def rolled_back(tmp_path: Path) -> Iterator[tuple[Store, Controller]]:
    """The logs' seeded store, with a rollout that a human rolled back."""
    cfg = parse_config(
        f"""
name: seeded
versions:
  stable: {{url: "http://127.0.0.1:9/v1", model: a}}
  canary: {{url: "http://127.0.0.1:9/v1", model: b}}
stable: stable
candidate: canary
storage: {{url: "sqlite:///{tmp_path / "seeded.db"}"}}
logging: {{redact: pii}}
""",
        env={},
    )
    store = Store(cfg.storage.url)
    seed(store)
    ctl = Controller(
        cfg, store, TriggerJudge(cfg.triggers), apply_routing=lambda *_: None, clock=lambda: T0
    )
    ctl.act("rollback", actor="admin:test", reason="leaks addresses")
    yield store, ctl
    store.close()


def test_a_failed_write_is_logged_with_its_path_and_retried(
    rolled_back: tuple[Store, Controller], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store, ctl = rolled_back
    blocked = tmp_path / "reports"
    blocked.write_text("a file where the report directory should be")
    reporter = DecisionReporter(store, ctl.config, blocked, leading=lambda: True, retry_s=0)
    with caplog.at_level(logging.ERROR, logger="saferollout.report"):
        assert reporter.check() is None
    assert f"could not write the report of the rolled_back decision to {blocked}" in caplog.text
    assert not any(e["kind"] == REPORT_EVENT for e in store.list_events("seeded"))
    blocked.unlink()
    written = reporter.check()
    assert written is not None and written.parent == blocked
    assert json.loads((written / "report.json").read_text())["rollout_report"]["reason"] == {
        "text": "requested by admin:test (leaks addresses)",
        "failing": [],
    }
    assert reporter.check() is None  # recorded: nothing more to write


def test_a_report_written_but_not_recorded_is_recorded_not_duplicated(
    rolled_back: tuple[Store, Controller], tmp_path: Path
) -> None:
    """A crash between the write and its event: the next leader keeps the directory."""
    store, ctl = rolled_back
    reports = tmp_path / "reports"
    _, _, first = write_decision_report(ctl.config.storage.url, "seeded", "pii", reports)
    stamp = (first / "report.json").stat().st_mtime_ns
    # A follower never writes, even a decision without a report on record.
    follower = DecisionReporter(store, ctl.config, tmp_path / "other", leading=lambda: False)
    follower.start()
    follower.wake()
    time.sleep(0.3)
    follower.stop()
    assert not (tmp_path / "other").exists()
    assert DecisionReporter(store, ctl.config, reports, leading=lambda: True).check() == first
    assert [p.name for p in reports.iterdir()] == [first.name]
    assert (first / "report.json").stat().st_mtime_ns == stamp  # kept, not rewritten
    (event,) = [e for e in store.list_events("seeded") if e["kind"] == REPORT_EVENT]
    assert event["data"]["dir"] == str(first)
