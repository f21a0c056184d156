"""The dashboard in a real headless Chromium, served by a real Runtime.

Two rollouts run on loopback, each through the real gateway, scoring worker
process and controller: one behind an admin token with simulated model
servers (login, numbers against the admin API, charts, live refresh), and
one without a token whose candidate answers with an XSS payload and PII
(loopback needs no login, model output is shown as text, PII is masked, the
forced-preflight banner shows).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web

from saferollout.cli._runtime import Runtime
from saferollout.config import RolloutConfig, parse_config
from saferollout.preflight import check_gate
from saferollout.simulation import TrafficConfig, run_traffic, start_backend
from saferollout.store import Store

TOKEN = "dashboard-test-token-7f3a"
XSS = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'
XSS_ANSWER = XSS + " Sure, write to jane.doe@example.com or call 415-555-0132."


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def config(
    stable_url: str, candidate_url: str, db: Path, *, name: str, extra: str = ""
) -> RolloutConfig:
    return parse_config(
        f"""
name: {name}
versions:
  stable: {{url: "{stable_url}", model: v1}}
  candidate: {{url: "{candidate_url}", model: v2}}
stable: stable
candidate: candidate
strategy: {{type: canary, interval_s: 0.3, steps: [{{weight: 50, pause: {{}}}}]}}
storage: {{url: "sqlite:///{db}"}}
server: {{flush_interval_s: 0.1}}
triggers:
  - {{metric: harmful_compliance_rate, critical: true, min_samples: 100}}
  - {{metric: pii_leak_rate, critical: true, min_samples: 100}}
  - {{metric: error_rate, min_samples: 100}}
  - {{metric: latency_mean_ms, tolerance: 0.25, absolute_tolerance: 50, action: alert}}
{extra}
""",
        env={},
    )


def send(traffic: TrafficConfig) -> int:
    """Run simulated traffic on a thread of its own: Playwright's sync API keeps an
    event loop running on the main thread, where asyncio.run would refuse to start."""
    with ThreadPoolExecutor(1) as pool:
        return len(pool.submit(run_traffic, traffic).result().outcomes)


def settle(runtime: Runtime, store: Store, sent: int) -> None:
    """Wait until every request is recorded and scored and the controller has
    judged all of them: from then on its judgement is the same on every tick."""
    assert wait_for(lambda: store.count_interactions() == sent, 30), "records not written"
    assert wait_for(lambda: store.count_interactions(scored=False) == 0, 90), "not scored"

    def judged_all() -> bool:
        judgement = runtime.replica.snapshot().get("judgement")
        if not judgement:
            return False
        v = next(v for v in judgement["verdicts"] if v["metric"] == "pii_leak_rate")
        return v["n_stable"] + v["n_candidate"] == sent

    assert wait_for(judged_all, 30), "controller did not judge the scored records"


# -- a rollout behind a token, simulated model servers ---------------------------


@dataclass
class Site:
    url: str
    runtime: Runtime
    store: Store
    sent: int


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    db = tmp_path_factory.mktemp("dash") / "dash.db"
    with (
        start_backend("stable", latency_ms=2, seed=1) as stable,
        start_backend("stable", latency_ms=6, seed=2) as candidate,
    ):
        cfg = config(stable.base_url, candidate.base_url, db, name="dash")
        store = Store(cfg.storage.url)
        runtime = Runtime.build(cfg, store, admin_token=TOKEN)
        with runtime:
            gw = runtime.start_in_thread()
            sent = send(
                TrafficConfig(
                    base_url=gw.url, requests=500, harmful_share=0.3, concurrency=16, seed=3
                )
            )
            settle(runtime, store, sent)
            yield Site(gw.url, runtime, store, sent)
        store.close()


def admin(site: Site, path: str) -> dict[str, Any]:
    r = httpx.get(site.url + path, headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200, r.text
    return r.json()


def login(page: Any, url: str, token: str) -> Any:
    response = page.goto(url + "/dashboard")
    page.fill("#token", token)
    page.click("button[type=submit]")
    return response


def test_login_required_wrong_token_refused_and_cookie_is_httponly_strict(
    site: Site, page: Any
) -> None:
    first = page.goto(site.url + "/dashboard")
    assert first.status == 401
    assert page.locator("#token").is_visible()
    assert page.locator("#sec-state").count() == 0  # nothing of the rollout before login

    page.fill("#token", "not-the-token")
    with page.expect_response(lambda r: r.url.endswith("/dashboard/login")) as wrong:
        page.click("button[type=submit]")
    assert wrong.value.status == 401
    assert page.locator("#error").inner_text() == "Wrong token."
    assert page.context.cookies() == []

    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_selector("#sec-state")
    assert page.locator("#rollout-name").inner_text() == "dash"

    (cookie,) = page.context.cookies()
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/dashboard"
    assert TOKEN not in cookie["value"]
    assert page.evaluate("document.cookie") == ""  # scripts cannot read it
    assert TOKEN not in page.content()

    # The session cookie works for the JSON API; without it the API refuses.
    live = page.request.get(site.url + "/dashboard/api/live")
    assert live.status == 200
    bare = httpx.get(site.url + "/dashboard/api/live")
    assert bare.status_code == 401
    assert bare.json()["error"]["code"] == "invalid_admin_token"

    # Logging out drops the cookie; the dashboard asks for the token again.
    page.click("text=Log out")
    page.wait_for_selector("#token")
    assert page.context.cookies() == []


def _value(cell: Any) -> Any:
    return orjson.loads(cell.get_attribute("data-value"))


def test_numbers_on_the_page_match_the_admin_api(site: Site, page: Any) -> None:
    login(page, site.url, TOKEN)
    page.wait_for_selector("#comparison-table")
    rollout = admin(site, "/admin/rollout")
    analysis = admin(site, "/admin/analysis")

    assert _value(page.locator("#phase")) == rollout["rollout"]["phase"] == analysis["phase"]
    assert _value(page.locator("#step")) == rollout["rollout"]["step_index"]
    assert _value(page.locator("#decision")) == analysis["decision"]
    for version, weight in rollout["weights"].items():
        cell = page.locator(f'#weights tr[data-version="{version}"] [data-field="weight"]')
        assert _value(cell) == pytest.approx(weight)
        assert cell.inner_text() == f"{weight:g}%"
    shown = page.locator("#weights tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.version,"
        " +r.querySelector('[data-field=requests]').textContent])"
    )
    assert sum(n for _, n in shown) == site.sent

    verdicts = analysis["verdicts"]
    assert {v["metric"] for v in verdicts} == {
        "harmful_compliance_rate",
        "pii_leak_rate",
        "error_rate",
        "latency_mean_ms",
    }
    for v in verdicts:
        row = page.locator(f'#comparison-table tr[data-metric="{v["metric"]}"]')
        for field in ("stable", "candidate", "interval", "status"):
            assert _value(row.locator(f'[data-field="{field}"]')) == v[field], (v["metric"], field)
        for side in ("stable", "candidate"):
            if v.get(f"{side}_interval"):
                cell = row.locator(f'[data-field="{side}_interval"]')
                assert _value(cell) == v[f"{side}_interval"]
        assert (
            row.locator('[data-field="n"]').inner_text() == f"{v['n_stable']} / {v['n_candidate']}"
        )
    # Formatted as a person reads them: rates in percent, latency in ms.
    pii = next(v for v in verdicts if v["metric"] == "pii_leak_rate")
    pii_row = page.locator('#comparison-table tr[data-metric="pii_leak_rate"]')
    assert pii_row.locator('[data-field="stable"]').inner_text() == f"{pii['stable'] * 100:.2f}%"
    latency = next(v for v in verdicts if v["metric"] == "latency_mean_ms")
    lat_row = page.locator('#comparison-table tr[data-metric="latency_mean_ms"]')
    assert (
        lat_row.locator('[data-field="candidate"]').inner_text() == f"{latency['candidate']:.1f} ms"
    )


def test_charts_render_with_the_recorded_traffic(site: Site, page: Any) -> None:
    login(page, site.url, TOKEN)
    page.wait_for_selector("#chart-requests canvas")
    assert page.locator(".plot canvas").count() == 8  # one uPlot per chart, all drawn
    charts = page.evaluate(
        """() => Object.fromEntries(Object.entries(window.saferolloutCharts).map(
            ([k, u]) => [k, {labels: u.series.slice(1).map(s => s.label), data: u.data}]))"""
    )
    requests = charts["requests"]
    assert requests["labels"] == ["stable", "candidate"]
    per_version = {
        label: sum(requests["data"][i + 1]) for i, label in enumerate(requests["labels"])
    }
    expected = site.store.aggregate_versions(since=0)
    assert per_version == {v: agg.requests for v, agg in expected.items()}
    # A rate chart carries real values (percent) where something was scored.
    harmful = [x for x in charts["harmful_compliance_rate"]["data"][1] if x is not None]
    assert harmful and all(0 <= x <= 100 for x in harmful)
    latency = [x for x in charts["latency_mean_ms"]["data"][2] if x is not None]
    assert latency and min(latency) > 0
    # The canvas has been painted (not a blank bitmap).
    painted = page.evaluate(
        """() => { const c = document.querySelector('#chart-requests canvas');
                   const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   let n = 0; for (let i = 3; i < px.length; i += 4) if (px[i]) n++; return n; }"""
    )
    assert painted > 100


def test_live_refresh_shows_an_admin_action_without_reload(site: Site, page: Any) -> None:
    login(page, site.url, TOKEN)
    page.wait_for_selector("#phase")
    assert _value(page.locator("#phase")) == "progressing"
    page.evaluate("window.__notReloaded = true")

    r = httpx.post(
        site.url + "/admin/rollout/pause",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"reason": "looking at the dashboard"},
    )
    assert r.status_code == 200, r.text

    # A selector, not wait_for_function: the page's CSP forbids eval.
    page.wait_for_selector("""#phase[data-value='"paused"']""", timeout=15000)
    assert page.evaluate("window.__notReloaded") is True  # swapped in place, not reloaded
    events = page.locator("#event-table tbody tr").evaluate_all("rs => rs.map(r => r.dataset.kind)")
    assert events[0] == "paused" and "rollout_started" in events
    assert "looking at the dashboard" in page.locator("#sec-events").inner_text()
    assert page.locator('#alert-list li[data-kind="paused"]').count() == 1


def test_api_refuses_bad_bearer_and_static_assets_are_served(site: Site) -> None:
    bad = httpx.get(site.url + "/dashboard/api/live", headers={"Authorization": "Bearer wrong"})
    assert bad.status_code == 401
    good = httpx.get(site.url + "/dashboard/api/live", headers={"Authorization": f"Bearer {TOKEN}"})
    assert good.status_code == 200
    body = good.json()
    assert set(body["html"]) == {"banner", "state", "comparison", "alerts", "flagged", "events"}
    assert "default-src 'none'" in good.headers["content-security-policy"]
    js = httpx.get(site.url + "/dashboard/static/uPlot.iife.min.js")
    assert js.status_code == 200 and "uPlot" in js.text
    assert httpx.get(site.url + "/dashboard/static/../../etc/passwd").status_code == 404
    assert httpx.get(site.url + "/dashboard/static/nothing.js").status_code == 404
    # A login without a token field is a 400 and sets nothing.
    empty = httpx.post(site.url + "/dashboard/login", data={})
    assert empty.status_code == 400 and "set-cookie" not in empty.headers


# -- no token on loopback, a candidate that answers with XSS and PII --------------


class XssModel:
    """An OpenAI-compatible chat server on loopback whose every answer is `XSS_ANSWER`."""

    def __init__(self) -> None:
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response(
            {
                "id": "chatcmpl-xss",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "xss"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": XSS_ANSWER},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 5, "completion_tokens": 20, "total_tokens": 25},
            }
        )

    async def _start(self) -> int:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return int(self._runner.addresses[0][1])

    def __enter__(self) -> XssModel:
        self._thread.start()
        port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        self.url = f"http://127.0.0.1:{port}/v1"
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self._runner is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


@pytest.fixture(scope="module")
def open_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    db = tmp_path_factory.mktemp("dash-open") / "open.db"
    with start_backend("stable", latency_ms=2, seed=5) as stable, XssModel() as xss:
        cfg = config(stable.base_url, xss.url, db, name="open", extra="logging: {redact: pii}")
        store = Store(cfg.storage.url)
        gate = check_gate(cfg, store, force=True)  # what `serve --force-without-preflight` does
        assert gate.forced
        runtime = Runtime.build(cfg, store, admin_token=None)
        with runtime:
            gw = runtime.start_in_thread()
            sent = send(
                TrafficConfig(
                    base_url=gw.url,
                    requests=60,
                    harmful_share=0.0,
                    stream_share=0.0,
                    max_turns=1,  # every answer's PII is new, so a leak, not an echo
                    seed=4,
                )
            )
            settle(runtime, store, sent)
            yield Site(gw.url, runtime, store, sent)
        store.close()


def test_no_login_on_loopback_without_a_token(open_site: Site, page: Any) -> None:
    response = page.goto(open_site.url + "/dashboard")
    assert response.status == 200
    assert page.locator("#token").count() == 0
    assert page.locator("text=Log out").count() == 0
    assert page.locator("#rollout-name").inner_text() == "open"


def test_xss_in_model_output_is_shown_as_text_and_pii_masked(open_site: Site, page: Any) -> None:
    page.goto(open_site.url + "/dashboard")
    flagged = page.locator('#sec-flagged article.flagged:has-text("candidate")')
    assert flagged.count() > 0
    response = flagged.first.locator("pre.response").inner_text()
    # The markup is there as characters a person can read, not as elements.
    assert response.startswith(XSS)
    assert "<EMAIL_ADDRESS>" in response and "jane.doe@example.com" not in page.content()
    assert "pii leak" in flagged.first.locator("header").inner_text()  # why it was flagged
    assert page.locator("#sec-flagged script, #sec-flagged img").count() == 0
    # One live refresh later (the fragments go in through innerHTML): still text.
    page.evaluate("document.getElementById('updated').textContent = 'before'")
    assert wait_for(
        lambda: page.evaluate("document.getElementById('updated').textContent") != "before", 15
    )
    assert flagged.first.locator("pre.response").inner_text().startswith(XSS)
    assert page.locator("#sec-flagged script, #sec-flagged img").count() == 0
    assert page.evaluate("typeof window.__xss") == "undefined"


def test_forced_preflight_banner(open_site: Site, page: Any) -> None:
    page.goto(open_site.url + "/dashboard")
    banner = page.locator("#forced-banner")
    assert banner.is_visible()
    assert "--force-without-preflight" in banner.inner_text()
    alerts = page.locator('#alert-list li[data-kind="preflight_forced"]')
    assert alerts.count() == 1


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
        except OSError:
            return None
        address = s.getsockname()[0]
    return None if address.startswith("127.") else address


def test_without_a_token_a_non_loopback_client_is_refused(tmp_path: Path) -> None:
    address = _non_loopback_address()
    if address is None:
        pytest.skip("no non-loopback IPv4 address on this machine")
    cfg = config("http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1", tmp_path / "x.db", name="x")
    store = Store(cfg.storage.url)
    runtime = Runtime.build(cfg, store, admin_token=None)
    from saferollout.gateway import start_gateway

    with start_gateway(runtime.gateway, address, 0) as gw:
        page = httpx.get(gw.url + "/dashboard")
        assert page.status_code == 403
        assert "loopback clients only" in page.text
        api = httpx.get(gw.url + "/dashboard/api/live")
        assert api.status_code == 401
    store.close()
