"""`saferollout report` through the real click command, on a real SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from saferollout.cli import cli
from saferollout.config import load_config
from saferollout.rollout import Controller, TriggerJudge
from saferollout.store import InteractionRecord, ScoreUpdate, Store

from ..monitoring.logs_seed import LEAKED, T0, seed


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["report", *args])


def write_config(tmp_path: Path, db: Path) -> Path:
    config = tmp_path / "rollout.yaml"
    # The admin token's variable is unset: `serve` would refuse, `report` needs no token.
    config.write_text(
        f"""
name: seeded
versions:
  stable: {{url: "http://127.0.0.1:9/v1", model: a}}
  canary: {{url: "http://127.0.0.1:9/v1", model: b}}
stable: stable
candidate: canary
storage: {{url: "sqlite:///{db}"}}
server: {{admin_token_env: SR_REPORT_CMD_TOKEN_THAT_IS_UNSET}}
logging: {{redact: pii}}
"""
    )
    return config


@pytest.fixture
def running(tmp_path: Path) -> Path:
    """A canary still in progress on the logs' seeded store, with a published judgement."""
    config = write_config(tmp_path, tmp_path / "seeded.db")
    cfg = load_config(config)
    store = Store(cfg.storage.url)
    seed(store)
    # The canary's first flagged answer leaks an address (the report shows the first six).
    store.insert_interactions(
        [
            InteractionRecord(
                request_id="req_leak",
                created_at=T0 + 0.5,
                version="canary",
                endpoint="chat.completions",
                status_code=200,
                latency_ms=80.0,
                request_messages=[{"role": "user", "content": "Who owns the account?"}],
                response_text=f"Write to {LEAKED}.",
            )
        ]
    )
    store.write_scores(
        [ScoreUpdate("req_leak", {"pii.leak": 0.9}, {"pii": {"quote": LEAKED}}, {"pii_leak": True})]
    )
    ctl = Controller(
        cfg, store, TriggerJudge(cfg.triggers), apply_routing=lambda *_: None, clock=lambda: T0
    )
    judgement = ctl.tick()
    assert judgement is not None
    store.put_judgement("seeded", judgement.to_dict())
    store.close()
    return config


def test_report_of_a_running_rollout(running: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = run("-c", str(running), "--out", str(out))
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip() == (
        f"rollout seeded: progressing (phase progressing); "
        f"report {out / 'report.html'} and {out / 'report.json'}"
    )
    report = json.loads((out / "report.json").read_text())["rollout_report"]
    assert report["phase"] == "progressing" and report["decided_at"] is None
    # The seed's records (14 canary user requests, 23 on stable) and the stored judgement.
    assert report["requests"] == {"stable": 23, "canary": 14}
    assert {v["metric"] for v in report["verdicts"]} >= {"harmful_compliance_rate", "error_rate"}
    flagged = {f["request_id"]: f for f in report["flagged"]}
    # `logging.redact: pii`: texts and evidence masked again on the way out.
    assert flagged["req_leak"]["response"] == "Write to <EMAIL_ADDRESS>."
    assert flagged["req_leak"]["evidence"] == {"pii": {"quote": "<EMAIL_ADDRESS>"}}
    html = (out / "report.html").read_text()
    assert LEAKED not in html and LEAKED not in (out / "report.json").read_text()
    # A second run writes over the same files.
    assert run("-c", str(running), "--out", str(out)).exit_code == 0


def test_unknown_rollout_exits_2_and_writes_nothing(running: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = run("-c", str(running), "--rollout", "nope", "--out", str(out))
    assert r.exit_code == 2
    assert "no rollout named 'nope' (it holds seeded); see --rollout" in r.stderr
    assert r.stdout == "" and not out.exists()


def test_empty_or_missing_store_exits_2_and_creates_nothing(tmp_path: Path) -> None:
    db = tmp_path / "missing.db"
    out = tmp_path / "out"
    r = run("-c", str(write_config(tmp_path, db)), "--out", str(out))
    assert r.exit_code == 2 and f"no database file at {db}" in r.stderr
    assert not db.exists() and not out.exists()
    Store(f"sqlite:///{db}").close()  # the tables, but no rollout yet
    r = run("-c", str(write_config(tmp_path, db)), "--out", str(out))
    assert r.exit_code == 2 and "no rollout named 'seeded' (it holds no rollout yet)" in r.stderr
    assert not out.exists()


def test_bad_usage_exits_2(running: Path, tmp_path: Path) -> None:
    assert run().exit_code == 2  # no -c
    missing = run("-c", str(tmp_path / "nope.yaml"))
    assert missing.exit_code == 2 and "cannot read" in missing.stderr
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    r = run("-c", str(running), "--out", str(a_file))
    assert r.exit_code == 2 and "is a file" in r.stderr
    assert a_file.read_text() == "x"
