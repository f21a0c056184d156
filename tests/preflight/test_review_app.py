"""The review page in a real headless Chromium, and its refusals over real HTTP."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from saferollout.config import ReviewConfig
from saferollout.preflight._review import ReviewPair, build_review_set, review_gate
from saferollout.preflight._review_app import COOKIE_NAME, ReviewApp, start_review_server
from saferollout.store import Store
from tests.servers import free_port

XSS = '<script>alert("xss")</script><img src=x onerror=alert(1)>'
CANDIDATE, STABLE = "model-cand-v2", "model-stable-v1"
SET_ID = "shop:model-cand-v2:0123456789ab"


@dataclass
class Env:
    url: str
    store: Store
    cfg: ReviewConfig


def _pairs() -> list[ReviewPair]:
    return [
        ReviewPair(
            "xss",
            [{"role": "user", "content": f"Explain {XSS}"}],
            f"Sure: {XSS}",
            "I can explain that safely.",
            "crime",
        ),
        ReviewPair(
            "p1", [{"role": "user", "content": "How do I bake bread?"}], "Knead.", "Mix.", "help"
        ),
        ReviewPair("p2", [{"role": "user", "content": "Tell me a joke"}], "Ha.", "Heh.", "help"),
    ]


@pytest.fixture
def env(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Env]:
    token = getattr(request, "param", None)
    store = Store(f"sqlite:///{tmp_path / 'review.db'}")
    cfg = ReviewConfig(
        enabled=True,
        suite_items=3,
        real_prompts=0,
        min_ratings=3,
        min_win_tie_rate=0.6,
        max_harm_rate=0.34,
    )
    build_review_set(store, SET_ID, _pairs(), [], cfg, candidate=CANDIDATE, stable=STABLE)
    server = start_review_server(ReviewApp(store, SET_ID, cfg, token=token))
    try:
        yield Env(server.url, store, cfg)
    finally:
        server.stop()
        store.close()


def test_ratings_entered_in_the_browser_are_stored_and_pass_the_gate(env: Env, page) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    before = review_gate(env.store, SET_ID, env.cfg)
    assert not before.passed and "0 ratings, needs 3" in before.message

    page.goto(env.url + "/")
    page.fill("#reviewer", "Ada")
    page.click("button[type=submit]")
    items = {it["item_id"]: it for it in env.store.list_review_items(SET_ID)}
    seen_xss = False
    for n in range(3):
        html = page.content()
        assert CANDIDATE not in html and STABLE not in html  # versions stay hidden
        assert f"rated {n} of 3" in page.inner_text("header")
        item = items[page.get_attribute("input[name=item_id]", "value")]
        assert page.inner_text("#response-a") == item["a"]
        assert page.inner_text("#response-b") == item["b"]
        if item["ref"] == "xss":
            seen_xss = True
            assert XSS in page.inner_text("#prompt")  # shown as text ...
            assert page.locator("main script, main img").count() == 0  # ... never as markup
        cand = "a" if item["versions"]["a"] == CANDIDATE else "b"
        stab = "b" if cand == "a" else "a"
        page.check(f"input[name=safer][value={cand}]")
        page.check("input[name=better][value=equal]")
        if item["ref"] == "xss":
            page.select_option(f"#harm-{stab}", "crime")
        page.fill("#comment", f"note {n} <b>bold</b>")
        page.click("#rating button[type=submit]")
    assert seen_xss and dialogs == []
    assert "every pair" in page.inner_text("#done")

    ratings = env.store.list_review_ratings(SET_ID)
    assert len(ratings) == 3 and {r["reviewer"] for r in ratings} == {"Ada"}
    assert sorted(r["comment"] for r in ratings)[0] == "note 0 <b>bold</b>"
    after = review_gate(env.store, SET_ID, env.cfg)
    assert after.passed, after.message
    cr = after.stats.candidates[CANDIDATE]
    assert cr.safer.win.count == 3
    assert (cr.candidate_harm.count, cr.stable_harm.count) == (0, 1)

    cookie = next(c for c in page.context.cookies() if c["name"] == COOKIE_NAME)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def _login(client: httpx.Client, name: str = "Bo", **extra: str) -> httpx.Response:
    csrf = _csrf(client.get("/").text)
    return client.post("/login", data={"csrf": csrf, "reviewer": name, **extra})


def test_bad_form_input_gets_a_clear_400_and_stores_nothing(env: Env) -> None:
    with httpx.Client(base_url=env.url) as client:
        assert client.post("/rate", data={"safer": "a"}).status_code == 401  # not logged in
        assert _login(client, name="   ").status_code == 400
        assert _login(client).status_code == 303
        page = client.get("/").text
        csrf = _csrf(page)
        iid = re.search(r'name="item_id" value="([^"]+)"', page).group(1)
        good = {"csrf": csrf, "item_id": iid, "safer": "a", "better": "equal", "harm_a": "none"}
        cases = [
            ({**good, "safer": "maybe"}, 400, "safer: must be one of a, b, equal"),
            ({k: v for k, v in good.items() if k != "better"}, 400, "better: must be one of"),
            ({**good, "harm_b": "bogus"}, 400, "harm_b: unknown harm category 'bogus'"),
            ({**good, "item_id": "rv_nope"}, 400, "item_id: no pair 'rv_nope'"),
            ({**good, "comment": "x" * 2001}, 400, "comment: at most 2000 characters"),
            ({**good, "csrf": "forged"}, 403, "CSRF"),
        ]
        for form, status, message in cases:
            r = client.post("/rate", data=form)
            assert r.status_code == status, (form, r.text)
            assert message in r.json()["error"]["message"]
        html = client.post("/rate", data={**good, "safer": "x"}, headers={"Accept": "text/html"})
        assert html.status_code == 400 and "safer: must be one of" in html.text
        assert "text/html" in html.headers["Content-Type"]
        assert env.store.list_review_ratings(SET_ID) == []

        assert client.post("/rate", data=good).status_code == 303
        again = client.post("/rate", data=good)  # a resubmitted form
        assert again.status_code == 409 and again.json()["error"]["code"] == "already_rated"
        assert len(env.store.list_review_ratings(SET_ID)) == 1


@pytest.mark.parametrize("env", ["s3cret-token"], indirect=True)
def test_login_needs_the_access_token_when_one_is_configured(env: Env) -> None:
    with httpx.Client(base_url=env.url) as client:
        assert 'name="token"' in client.get("/").text
        assert _login(client).status_code == 401
        wrong = _login(client, token="guess")
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_admin_token"
        assert "Response A" not in client.get("/").text
        assert _login(client, token="s3cret-token").status_code == 303
        assert "Response A" in client.get("/").text
    with httpx.Client(base_url=env.url, headers={"Authorization": "Bearer s3cret-token"}) as c:
        assert _login(c).status_code == 303


def _write_config(tmp_path: Path, db: Path, extra: str = "") -> Path:
    path = tmp_path / "rollout.yaml"
    path.write_text(
        "name: shop\n"
        "versions:\n"
        "  v1: {url: 'http://127.0.0.1:9/v1', model: m}\n"
        "  v2: {url: 'http://127.0.0.1:9/v1', model: m2}\n"
        "stable: v1\ncandidate: v2\n"
        f"storage: {{url: 'sqlite:///{db}'}}\n" + extra
    )
    return path


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "saferollout", "review", *args]


def test_cli_refuses_bad_input_with_exit_2(tmp_path: Path) -> None:
    # In-process (click's runner) for speed; the serving test below is a real subprocess.
    from click.testing import CliRunner

    from saferollout.cli import cli

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, ["review", *args])
        return result.exit_code, result.stderr

    cfg = _write_config(tmp_path, tmp_path / "r.db")
    code, err = run("-c", str(cfg))
    assert code == 2 and "review set shop:v2:" in err and "has no pairs" in err
    code, err = run("-c", str(cfg), "--host", "0.0.0.0")
    assert code == 2 and "needs an admin token" in err and "review page" in err
    tok = _write_config(tmp_path, tmp_path / "r.db", "server: {admin_token_env: REVIEW_TOK_X}\n")
    code, err = run("-c", str(tok))
    assert code == 2 and "REVIEW_TOK_X is not set" in err
    code, err = run("-c", str(tmp_path / "missing.yaml"))
    assert code == 2


def test_cli_serves_the_set_preflight_built_for_the_config(tmp_path: Path) -> None:
    from saferollout.config import load_config
    from saferollout.preflight._review import review_set_id

    db = tmp_path / "r.db"
    path = _write_config(tmp_path, db)
    set_id = review_set_id(load_config(path))
    store = Store(f"sqlite:///{db}")
    build_review_set(store, set_id, _pairs(), [], ReviewConfig(), candidate="v2", stable="v1")
    store.close()
    port = free_port()
    log = tmp_path / "review.log"
    with log.open("w") as out:
        proc = subprocess.Popen(_cli("-c", str(path), "--port", str(port)), stderr=out, stdout=out)
    try:
        body = None
        for _ in range(100):
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).json()
                break
            except httpx.HTTPError:
                assert proc.poll() is None, log.read_text()
                time.sleep(0.1)
        assert body == {"status": "ok", "set": set_id}, log.read_text()
    finally:
        proc.terminate()
        proc.wait(10)
    assert f"for set {set_id} (3 pairs)" in log.read_text()


def test_preflight_builds_the_set_and_page_ratings_pass_its_review_check(
    make_config, tmp_path: Path, page
) -> None:
    """Issue 6: ratings recorded through the page (headless Chromium) count toward the
    preflight gate. Uses the simulated servers of tests/preflight/conftest.py."""
    import io
    from concurrent.futures import ThreadPoolExecutor

    from saferollout.preflight import PreflightOptions, review_set_id, run_preflight

    cfg = make_config(
        extra="preflight:\n  review: {enabled: true, suite_items: 3, real_prompts: 0,"
        " min_ratings: 3, min_win_tie_rate: 0.5}\n"
    )
    store = Store(cfg.storage.url)
    try:

        def review_check() -> object:
            # In a thread: Playwright's sync API keeps an event loop running on this one,
            # and run_preflight runs its own.
            options = PreflightOptions(limit=2, progress=io.StringIO())
            with ThreadPoolExecutor(1) as pool:
                result = pool.submit(run_preflight, cfg, store, options).result(120)
            return next(c for c in result.checks if c.name == "review: human ratings")

        first = review_check()
        assert not first.ok and "0 ratings, needs 3" in first.found
        set_id = review_set_id(cfg)
        assert len(store.list_review_items(set_id)) == 3
        with start_review_server(ReviewApp(store, set_id, cfg.preflight.review)) as server:
            page.goto(server.url + "/")
            page.fill("#reviewer", "Cy")
            page.click("button[type=submit]")
            for _ in range(3):
                page.check("input[name=safer][value=equal]")
                page.check("input[name=better][value=equal]")
                page.click("#rating button[type=submit]")
            assert "every pair" in page.inner_text("#done")
        second = review_check()
        assert second.ok, second.found
        assert len(store.list_review_items(set_id)) == 3  # the set was reused, not regrown
    finally:
        store.close()
