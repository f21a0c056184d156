"""`saferollout demo`: every scenario through the real parts, small and fast.

Each scenario runs in-process (`run_demo`: simulated servers on loopback, the
real gateway, scoring worker process, analysis and controller on SQLite) with
a fixed seed at high speed; the decision it exists to show and
lost_records == 0 are asserted from report.json. The regression run's
report.html is opened in headless Chromium.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from saferollout.cli._demo import TOKEN_ENV, DemoOptions, run_demo
from saferollout.report import build_rollout_report, write_rollout_report
from saferollout.store import Store, schema

pytestmark = pytest.mark.slow


def _run(tmp: Path, scenario: str, monkeypatch: pytest.MonkeyPatch, **kw: Any) -> dict[str, Any]:
    monkeypatch.setenv(TOKEN_ENV, "replaced-by-the-demo")  # restored after the test
    options = DemoOptions(scenario=scenario, seed=3, out=tmp, speed=20, latency_ms=2, **kw)
    # On a thread of its own, as on the CLI's main thread: Playwright's sync API
    # keeps an event loop running on this one once the browser has started.
    with ThreadPoolExecutor(1) as pool:
        header = pool.submit(run_demo, options).result()
    document = json.loads((tmp / "report.json").read_text())
    assert {k: document[k] for k in header} == json.loads(json.dumps(header))
    assert (tmp / "report.html").stat().st_size > 50_000  # uPlot inlined
    return document


@pytest.fixture(scope="module")
def regression(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    mp = pytest.MonkeyPatch()
    try:
        out = tmp_path_factory.mktemp("regression")
        return out, _run(out, "regression", mp)
    finally:
        mp.undo()


def test_regression_is_rolled_back_after_passing_preflight(
    regression: tuple[Path, dict[str, Any]],
) -> None:
    _, doc = regression
    assert doc["preflight"]["passed"] is True, doc["preflight"]
    assert doc["decision"] == "rolled_back", doc["reason"]
    assert doc["lost_records"] == 0 and doc["answered"] == doc["requests_sent"]
    failing = {f["metric"] for f in doc["reason"]["failing"]}
    assert failing & {"harmful_compliance_rate", "pii_leak_rate", "safety_violation_rate"}
    assert 0 < doc["canary_requests_at_decision"] <= doc["requests"]["candidate"]
    # Conversations continue on stable after the rollback.
    assert doc["facts"]["after_rollback"]["versions"] == ["stable"]
    # The alert reached the loopback receiver.
    assert any("roll" in a["kind"] for a in doc["alerts"]), doc["alerts"]
    rr = doc["rollout_report"]
    assert rr["weights"]["candidate"][-1] == 0.0 and max(rr["weights"]["candidate"]) > 0


def test_report_renders_its_charts_in_a_browser(regression, page) -> None:  # type: ignore[no-untyped-def]
    out, _ = regression
    page.goto((out / "report.html").as_uri())
    assert "rolled back" in page.text_content("#decision").lower()
    lengths = page.evaluate("window.srCharts.map(u => [u.data.length, u.data[0].length])")
    # weights + 4 safety metrics + latency, each with data points.
    assert len(lengths) == 6
    assert all(series >= 2 and points >= 2 for series, points in lengths)
    assert page.locator(".sr-chart-plot canvas").count() == 6
    assert page.text_content("#lost-records").strip() == "0"
    assert page.locator("#flagged details").count() >= 1


def test_flagged_interaction_with_a_script_is_shown_as_text(regression, page, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out, doc = regression
    store = Store(f"sqlite:///{out / 'demo.db'}")
    payload = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'
    c = schema.interactions.c
    with store.engine.begin() as conn:
        first = conn.execute(
            sa.select(c.request_id)
            .where(c.version == "candidate", c.pii_leak.is_(True) | c.harmful_compliance.is_(True))
            .order_by(c.created_at)
        ).first()
        assert first is not None
        conn.execute(
            schema.interactions.update()
            .where(c.request_id == first[0])
            .values(response_text=payload)
        )
    report = build_rollout_report(store, doc["rollout_report"]["rollout"], flagged=50)
    store.close()
    _, html = write_rollout_report(report, tmp_path, header={"scenario": "xss"})
    assert "<script>window.pwned" not in html.read_text()
    page.goto(html.as_uri())
    assert page.evaluate("window.pwned") is None
    shown = page.locator("pre.response").all_text_contents()
    assert payload in shown


@pytest.mark.parametrize(
    ("scenario", "decision"),
    [
        ("healthy", "promoted"),
        ("aa", "promoted"),
        ("blue-green", "switched_back"),
        ("ab", "ab_decided"),
        ("shadow", "shadow_fail"),
        ("preflight-fail", "blocked"),
    ],
)
def test_scenario_reaches_its_decision(
    scenario: str, decision: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = _run(tmp_path, scenario, monkeypatch)
    assert doc["decision"] == decision, (doc["reason"], doc["notes"])
    assert doc["lost_records"] == 0
    rr = doc["rollout_report"]
    if scenario == "preflight-fail":
        assert doc["preflight"]["passed"] is False and doc["requests_sent"] == 0
        assert [e["kind"] for e in rr["events"]] == ["preflight_blocked"]
    if scenario == "shadow":
        assert rr["requests"].get("candidate", 0) == 0  # zero user exposure
        assert rr["shadow_requests"]["candidate"] > 0
    if scenario == "ab":
        assert rr["ab_result"]["winner"] == "candidate"
        assert rr["srm_check"]["mismatch"] is False
    if scenario == "healthy":
        assert doc["facts"]["vigilance"]["standby"] == "stable"
