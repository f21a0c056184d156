"""`saferollout logs` through the real click command, on a seeded store."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result

from saferollout.cli import cli
from saferollout.preflight import load_findings
from saferollout.store import Store

from .logs_seed import LEAKED, seed


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["logs", *args], catch_exceptions=False)


def write_config(tmp_path: Path, url: str, redact: str = "pii") -> str:
    path = tmp_path / "rollout.yaml"
    path.write_text(
        f"""
name: logs-test
versions:
  stable: {{url: "http://127.0.0.1:9/v1", model: m-stable}}
  canary: {{url: "http://127.0.0.1:9/v1", model: m-canary}}
stable: stable
candidate: canary
storage: {{url: "{url}"}}
logging: {{redact: {redact}}}
"""
    )
    return str(path)


@pytest.fixture
def seeded(store: Store, store_url: str) -> str:
    seed(store)
    return store_url


def test_list_filters_and_masks(seeded: str) -> None:
    r = run("list", "--storage", seeded, "--version", "canary", "--flag", "pii_leak")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].split("\t")[:3] == ["time", "request_id", "version"]
    assert sorted(line.split("\t")[1] for line in lines[1:]) == ["req_p00", "req_p01"]
    r = run("list", "--storage", seeded, "--score", "harmful>=0.9", "--json", "--limit", "3")
    rows = [orjson.loads(line) for line in r.output.splitlines()]
    assert [row["request_id"] for row in rows] == ["req_h07", "req_h06", "req_h05"]


def test_show_prints_scores_evidence_and_feedback_masked(seeded: str, store: Store) -> None:
    store.add_feedback(
        "req_p00", "canary", kind="explicit", negative=True, data={"rating": 1, "comment": LEAKED}
    )
    r = run("show", "req_p00", "--storage", seeded)
    assert r.exit_code == 0, r.output
    view = orjson.loads(r.output)
    assert view["scores"]["pii.leak"] == 0.9
    assert view["evidence"]["pii"]["leaked"][0]["type"] == "EMAIL_ADDRESS"
    assert view["feedback"][0]["negative"] is True and view["feedback"][0]["rating"] == 1
    assert LEAKED not in r.output  # --storage alone masks PII
    raw = run("show", "req_p00", "--storage", seeded, "--redact", "none")
    assert LEAKED in raw.output


def test_export_jsonl_and_csv_files(seeded: str, tmp_path: Path) -> None:
    out = tmp_path / "x.jsonl"
    r = run("export", "--storage", seeded, "--flagged", "--out", str(out))
    assert r.exit_code == 0, r.output
    rows = [orjson.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 12  # 8 harmful compliance, 2 PII leaks, 2 over-refusals
    assert [row["created_at"] for row in rows] == sorted(row["created_at"] for row in rows)
    out_csv = tmp_path / "x.csv"
    r = run("export", "--storage", seeded, "--format", "csv", "--out", str(out_csv), "--since", "0")
    assert r.exit_code == 0, r.output
    table = list(csv.DictReader(io.StringIO(out_csv.read_text())))
    assert len(table) == 37 and {"request_id", "flags", "scores", "prompt"} <= set(table[0])


def test_summary_json(seeded: str) -> None:
    r = run("summary", "--storage", seeded, "--version", "canary", "--json")
    assert r.exit_code == 0, r.output
    result = orjson.loads(r.output)
    assert list(result["versions"]) == ["canary"]
    assert result["versions"]["canary"]["prompt_clusters"][0]["count"] == 8
    plain = run("summary", "--storage", seeded)
    assert "canary: 14 requests" in plain.output and "violence\t8" in plain.output


def test_sessions_of_the_rolled_back_candidate_from_the_config(
    seeded: str, store: Store, tmp_path: Path
) -> None:
    config = write_config(tmp_path, seeded)
    r = run("sessions", "-c", config)
    assert r.exit_code == 2 and "no saved state" in r.output
    state = {"name": "logs-test", "stable": "stable", "candidate": "canary"}
    store.save_state(
        "logs-test", {**state, "phase": "rolled_back", "started_at": 0.0}, expected_revision=0
    )
    r = run("sessions", "-c", config, "--json")
    assert r.exit_code == 0, r.output
    rows = [orjson.loads(line) for line in r.output.splitlines()]
    assert [row["session_id"] for row in rows] == ["cs-0", "cs-1", "cs-2", "cs-3"]
    assert rows[0]["later_versions"] == ["stable"] and rows[0]["version"] == "canary"
    r = run("sessions", "--storage", seeded, "--version", "stable")
    assert r.exit_code == 0 and "cs-0" in r.output and "st-4" in r.output


def test_export_findings_appends_valid_findings(seeded: str, tmp_path: Path) -> None:
    out = tmp_path / "findings.jsonl"
    r = run("export-findings", "--storage", seeded, "--out", str(out))
    assert r.exit_code == 0, r.output
    findings = load_findings(out)
    assert len(findings) == 9 and all(f.status == "open" for f in findings)
    assert LEAKED not in out.read_text()
    r = run("export-findings", "--storage", seeded, "--out", str(out), "--append")
    assert r.exit_code == 0 and "added 0 findings" in r.output
    assert len(load_findings(out)) == 9


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["list", "--since", "yesterday"], "--since 'yesterday'"),
        (["list", "--score", "harmful>>1"], "--score 'harmful>>1'"),
        (["list", "--flag", "harmfull"], "--flag 'harmfull'"),
        (["summary", "--since", "1h", "--until", "2h"], "--since must be before --until"),
        (["export-findings", "--flag", "over_refusal"], "a refusal is not a red-team finding"),
        (["export-findings", "--append"], "--append needs --out"),
        (["show", "req_nope"], "no interaction with request id 'req_nope'"),
        (["sessions"], "give --version"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(seeded: str, args: list[str], message: str) -> None:
    r = run(*args, "--storage", seeded)
    assert r.exit_code == 2, r.output
    assert message in r.output


def test_bad_storage_exits_2_without_secrets(tmp_path: Path) -> None:
    r = run("list", "--storage", f"sqlite:///{tmp_path / 'missing.db'}")
    assert r.exit_code == 2 and "no database file" in r.output
    assert not (tmp_path / "missing.db").exists()  # a read never creates a database
    r = run("list", "--storage", "postgresql://bob:s3cret@127.0.0.1:1/nodb")
    assert r.exit_code == 2 and "s3cret" not in r.output and "***" in r.output
    r = run("list")
    assert r.exit_code == 2 and "exactly one of -c" in r.output
