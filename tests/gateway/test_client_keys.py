"""Client API keys (`clients:`): a real gateway on loopback in front of real servers."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from aiohttp import web

from saferollout.config import ConfigError, RolloutConfig, parse_config
from saferollout.gateway import GatewayHandle, UpstreamConfigError
from saferollout.gateway._clients import ClientKeys, ClientKeysError, TokenBucket
from saferollout.simulation import BackendHandle
from saferollout.store import Store

from ..servers import AppThread

ROOT = Path(__file__).resolve().parents[2]
CHAT: dict[str, Any] = {
    "model": "any",
    "messages": [{"role": "user", "content": "Explain photosynthesis."}],
}
WEB_KEY = "web-" + "k" * 28
QA_KEY = "qa-" + "q" * 29
PINNED_KEY = "pin-" + "p" * 28
BETA_KEY = "beta-" + "b" * 27
ADMIN = "admin-" + "a" * 26
ENV = {"WEB_KEY": WEB_KEY, "QA_KEY": QA_KEY, "PINNED_KEY": PINNED_KEY, "BETA_KEY": BETA_KEY}
CLIENTS = """
clients:
  keys:
    web: {key_env: WEB_KEY}
    qa: {key_env: QA_KEY, rate_limit: {requests_per_minute: 120, burst: 2}}
    pinned: {key_env: PINNED_KEY, versions: [stable]}
    beta: {key_env: BETA_KEY, versions: [canary]}
"""


def make_config(
    stable_url: str, candidate_url: str, weight: float = 50, clients: str = CLIENTS
) -> RolloutConfig:
    text = f"""
name: keys-test
versions:
  stable: {{url: "{stable_url}", model: model-stable, timeout_s: 10}}
  canary: {{url: "{candidate_url}", model: model-canary, timeout_s: 10}}
stable: stable
candidate: canary
strategy: {{type: canary, steps: [{{weight: {weight}}}]}}
server: {{flush_interval_s: 0.05}}
{clients}"""
    return parse_config(text, env={})


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def wait_records(store: Store, n: int, timeout: float = 10) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while store.count_interactions() < n and time.monotonic() < deadline:
        time.sleep(0.05)
    return store.list_interactions(limit=1000)


@pytest.fixture(autouse=True)
def client_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def open_gateway(
    backends: Callable[..., BackendHandle], gateway_factory: Callable[..., GatewayHandle]
) -> Callable[..., GatewayHandle]:
    """A gateway with client keys (and an admin token) over two calm simulated versions."""

    def start(weight: float = 50, **kw: Any) -> GatewayHandle:
        stable, canary = kw.pop("stable", None) or backends(), kw.pop("canary", None) or backends()
        config = make_config(stable.base_url, canary.base_url, weight)
        return gateway_factory(config, admin_token=ADMIN, **kw)

    return start


class HeaderUpstream:
    """A real OpenAI-style server that remembers the headers of every request."""

    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []
        self.base_url = ""

    def __enter__(self) -> HeaderUpstream:
        async def chat(request: web.Request) -> web.Response:
            self.headers.append(dict(request.headers))
            await request.read()
            return web.json_response(
                {"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}]}
            )

        app = web.Application()
        app.router.add_post("/v1/chat/completions", chat)
        self._server = AppThread(app)
        self.base_url = self._server.start() + "/v1"
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.stop()


@pytest.fixture
def header_upstream() -> Iterator[HeaderUpstream]:
    with HeaderUpstream() as upstream:
        yield upstream


# -- authentication -------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "phrase"),
    [
        ({}, "needs an API key"),
        (bearer("not-a-key-of-this-gateway-at-all"), "not valid"),
        (bearer(WEB_KEY[:-1]), "not valid"),  # a prefix of a real key is no key
        ({"Authorization": WEB_KEY}, "not valid"),  # no Bearer scheme
        ({"Authorization": "Basic " + WEB_KEY}, "not valid"),
        ({"Authorization": b"Bearer \xff\xfe" + WEB_KEY.encode()}, "not valid"),  # not UTF-8
    ],
)
def test_missing_or_wrong_key_is_401_in_openai_shape_and_records_nothing(
    open_gateway: Callable[..., GatewayHandle],
    sqlite_store: Store,
    headers: dict[str, str],
    phrase: str,
) -> None:
    gw = open_gateway()
    with httpx.Client(base_url=gw.url, headers=headers) as client:
        answers = [
            client.post("/v1/chat/completions", json=CHAT),
            client.post("/v1/chat/completions", json={**CHAT, "stream": True}),
            client.post("/v1/completions", json={"model": "m", "prompt": "hi"}),
            client.post("/v1/embeddings", json={"model": "m", "input": "hi"}),
            client.get("/v1/models"),
            client.post("/v1/feedback", json={"request_id": "req_x", "rating": "up"}),
            client.post("/v1/no-such-route", json={}),  # 401, not 404: routes stay hidden
        ]
        for r in answers:
            assert r.status_code == 401, r.text
            assert r.headers["WWW-Authenticate"] == "Bearer"
            assert r.headers["X-Rollout-Version"] == "none"
            assert r.headers["X-Request-Id"].startswith("req_")
            error = r.json()["error"]
            assert error["code"] == "invalid_api_key"
            assert error["type"] == "invalid_request_error"
            assert set(error) == {"message", "type", "code", "param"}
            assert phrase in error["message"]
            assert WEB_KEY not in r.text
        # Routes outside /v1 stay as they were.
        assert client.get("/healthz").status_code == 200
        metrics = client.get("/metrics").text
    refused = 'saferollout_requests_total{code="401",endpoint="chat.completions",version="none"}'
    assert refused + " 2.0" in metrics
    assert '{code="401",endpoint="feedback",version="none"} 1.0' in metrics
    gw.stop()
    assert sqlite_store.count_interactions() == 0
    assert sqlite_store.list_feedback() == []


def test_a_right_key_is_served_and_recorded_under_the_client_name(
    open_gateway: Callable[..., GatewayHandle], sqlite_store: Store
) -> None:
    gw = open_gateway()
    with httpx.Client(base_url=gw.url, headers=bearer(WEB_KEY)) as client:
        r = client.post("/v1/chat/completions", json=CHAT)
        assert r.status_code == 200, r.text
        assert r.headers["X-Rollout-Version"] in ("stable", "canary")
        # "bearer" in any case, and extra spaces before the key, are accepted.
        lower = client.post(
            "/v1/chat/completions", json=CHAT, headers={"Authorization": f"bearer  {WEB_KEY}"}
        )
        assert lower.status_code == 200
        fb = client.post(
            "/v1/feedback", json={"request_id": r.headers["X-Request-Id"], "rating": "up"}
        )
        assert fb.status_code == 200, fb.text
        models = client.get("/v1/models").json()["data"]
        assert {m["id"] for m in models} == {"model-stable", "model-canary"}
        metrics = client.get("/metrics").text
    assert 'saferollout_client_requests_total{client="web",outcome="accepted"} 4.0' in metrics
    rows = wait_records(sqlite_store, 2)
    assert [row["extra"]["client"] for row in rows] == ["web", "web"]


def test_the_admin_token_is_an_unlimited_key_with_every_version(
    open_gateway: Callable[..., GatewayHandle], sqlite_store: Store
) -> None:
    gw = open_gateway(weight=0)
    with httpx.Client(base_url=gw.url, headers=bearer(ADMIN)) as client:
        plain = client.post("/v1/chat/completions", json=CHAT)
        assert plain.status_code == 200 and plain.headers["X-Rollout-Version"] == "stable"
        forced = client.post(
            "/v1/chat/completions", json=CHAT, headers={"X-Rollout-Version": "canary"}
        )
        assert forced.status_code == 200 and forced.headers["X-Rollout-Version"] == "canary"
        # No limit applies: far more than any client's burst.
        assert all(client.get("/v1/models").status_code == 200 for _ in range(20))
    # A client key cannot force a version: that stays the admin's.
    denied = httpx.post(
        gw.url + "/v1/chat/completions",
        json=CHAT,
        headers={**bearer(WEB_KEY), "X-Rollout-Version": "canary"},
    )
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "override_not_allowed"
    rows = wait_records(sqlite_store, 2)
    assert sorted((r["version"], r["extra"]["client"]) for r in rows) == [
        ("canary", "admin"),
        ("stable", "admin"),
    ]


# -- rate limits ------------------------------------------------------------------


def test_over_the_limit_is_429_with_retry_after_and_recovers_after_refill(
    open_gateway: Callable[..., GatewayHandle], sqlite_store: Store
) -> None:
    gw = open_gateway()  # qa: 120 per minute (one every 0.5 s), burst 2
    with httpx.Client(base_url=gw.url, headers=bearer(QA_KEY)) as client:
        assert [client.post("/v1/chat/completions", json=CHAT).status_code for _ in range(2)] == [
            200,
            200,
        ]
        limited = client.post("/v1/chat/completions", json=CHAT)
        assert limited.status_code == 429, limited.text
        error = limited.json()["error"]
        assert error["code"] == "rate_limit_exceeded" and "'qa'" in error["message"]
        assert limited.headers["Retry-After"] == "1"  # whole seconds, rounded up
        wait_ms = int(limited.headers["retry-after-ms"])
        assert 0 < wait_ms <= 500
        assert limited.headers["X-Rollout-Version"] == "none"
        # Another client is not slowed down by qa's limit.
        assert client.get("/v1/models", headers=bearer(WEB_KEY)).status_code == 200
        time.sleep(wait_ms / 1000 + 0.05)
        assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
        metrics = client.get("/metrics", headers={}).text
    assert 'saferollout_client_requests_total{client="qa",outcome="rate_limited"} 1.0' in metrics
    assert 'saferollout_client_requests_total{client="qa",outcome="accepted"} 3.0' in metrics
    gw.stop()
    assert sqlite_store.count_interactions() == 3  # the refused request left no record


def test_token_bucket_refills_at_its_rate_up_to_its_capacity() -> None:
    bucket = TokenBucket(rate=2.0, capacity=3, now=100.0)
    assert [bucket.take(100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(100.0) == pytest.approx(0.5)
    assert bucket.take(100.25) == pytest.approx(0.25)  # half a token came back
    assert bucket.take(100.5) == 0.0
    # A long quiet spell refills to the capacity, never beyond.
    assert [bucket.take(1000.0) for _ in range(4)][-1] == pytest.approx(0.5)


def test_throttle_uses_the_injected_clock() -> None:
    cfg = make_config("http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1")
    now = [0.0]
    assert cfg.clients is not None
    keys = ClientKeys.from_config(cfg.clients, admin_token=None, env=ENV, clock=lambda: now[0])
    qa = keys.authenticate(f"Bearer {QA_KEY}")
    assert qa is not None and qa.name == "qa"
    assert [keys.throttle(qa) for _ in range(3)] == [0.0, 0.0, pytest.approx(0.5)]
    now[0] = 0.5
    assert keys.throttle(qa) == 0.0
    web = keys.authenticate(f"Bearer {WEB_KEY}")
    assert web is not None and all(keys.throttle(web) == 0.0 for _ in range(1000))
    assert keys.names == ["beta", "pinned", "qa", "web"]
    assert keys.authenticate(f"Bearer {ADMIN}") is None  # no admin token configured


# -- allowed versions -------------------------------------------------------------


def test_a_key_restricted_to_stable_never_reaches_the_candidate(
    backends: Callable[..., BackendHandle],
    gateway_factory: Callable[..., GatewayHandle],
    sqlite_store: Store,
) -> None:
    stable, canary = backends(), backends()
    config = make_config(stable.base_url, canary.base_url, weight=100)
    gw = gateway_factory(config, admin_token=ADMIN)
    with httpx.Client(base_url=gw.url, headers=bearer(PINNED_KEY)) as client:
        for i in range(10):
            r = client.post("/v1/chat/completions", json=CHAT, headers={"X-Session-Id": f"s{i}"})
            assert r.status_code == 200 and r.headers["X-Rollout-Version"] == "stable"
        models = client.get("/v1/models").json()["data"]
        assert [m["id"] for m in models] == ["model-stable"]
        # Everyone else goes to the candidate at 100%.
        other = client.post("/v1/chat/completions", json=CHAT, headers=bearer(WEB_KEY))
        assert other.headers["X-Rollout-Version"] == "canary"
        metrics = client.get("/metrics").text
    assert 'client="pinned",outcome="pinned_to_stable"} 10.0' in metrics
    rows = wait_records(sqlite_store, 11)
    pinned = [r for r in rows if r["extra"]["client"] == "pinned"]
    assert len(pinned) == 10
    assert all(r["version"] == "stable" and r["retried_from"] is None for r in pinned)
    assert all(r["extra"]["pinned_from"] == "canary" for r in pinned)
    assert canary.backend.stats()["requests"] == 1  # only web's request


def test_a_restricted_key_gets_no_mirror_and_no_retry_outside_its_versions(
    backends: Callable[..., BackendHandle],
    gateway_factory: Callable[..., GatewayHandle],
    sqlite_store: Store,
) -> None:
    stable, canary = backends(), backends()
    gw = gateway_factory(make_config(stable.base_url, canary.base_url, 0), admin_token=ADMIN)
    # Shadow: every stable request would be mirrored to the candidate.
    gw.gateway.apply_routing("stable", {}, shadow=("canary", 1.0))
    with httpx.Client(base_url=gw.url) as client:
        pinned = client.post("/v1/chat/completions", json=CHAT, headers=bearer(PINNED_KEY))
        assert pinned.status_code == 200
        web_ = client.post("/v1/chat/completions", json=CHAT, headers=bearer(WEB_KEY))
        assert web_.status_code == 200
    rows = wait_records(sqlite_store, 3)
    mirrored = [r for r in rows if r["shadow"]]
    assert [m["extra"]["mirror_of"] for m in mirrored] == [web_.headers["X-Request-Id"]]


def test_a_candidate_only_key_is_refused_when_routed_to_stable_and_not_retried_there(
    backends: Callable[..., BackendHandle],
    gateway_factory: Callable[..., GatewayHandle],
    sqlite_store: Store,
) -> None:
    from .conftest import BROKEN

    stable = backends()
    gw0 = gateway_factory(make_config(stable.base_url, backends().base_url, 0), admin_token=ADMIN)
    r = httpx.post(gw0.url + "/v1/chat/completions", json=CHAT, headers=bearer(BETA_KEY))
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "version_not_allowed"
    assert r.json()["error"]["type"] == "permission_error"
    assert r.headers["X-Rollout-Version"] == "none"
    gw0.stop()
    assert sqlite_store.count_interactions() == 0

    broken = backends(BROKEN)
    gw = gateway_factory(make_config(stable.base_url, broken.base_url, 100), admin_token=ADMIN)
    failed = httpx.post(gw.url + "/v1/chat/completions", json=CHAT, headers=bearer(BETA_KEY))
    assert failed.status_code >= 500 and failed.headers["X-Rollout-Version"] == "canary"
    # web may use stable: its candidate failure is retried there as usual.
    retried = httpx.post(gw.url + "/v1/chat/completions", json=CHAT, headers=bearer(WEB_KEY))
    assert retried.status_code == 200 and retried.headers["X-Rollout-Version"] == "stable"
    assert stable.backend.stats()["requests"] == 1


# -- secrets ------------------------------------------------------------------------


def test_keys_never_go_upstream_nor_into_records_logs_or_metrics(
    header_upstream: HeaderUpstream,
    gateway_factory: Callable[..., GatewayHandle],
    sqlite_store: Store,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    url = header_upstream.base_url
    gw = gateway_factory(make_config(url, url, 50), admin_token=ADMIN)
    with httpx.Client(base_url=gw.url) as client:
        for key in (WEB_KEY, QA_KEY, PINNED_KEY, ADMIN, "wrong-" + WEB_KEY):
            client.post("/v1/chat/completions", json=CHAT, headers=bearer(key))
            client.post("/v1/chat/completions", json={**CHAT, "stream": True}, headers=bearer(key))
        metrics = client.get("/metrics").text
    gw.stop()
    assert header_upstream.headers, "nothing reached the upstream"
    assert all("Authorization" not in h for h in header_upstream.headers)
    secrets = [WEB_KEY, QA_KEY, PINNED_KEY, ADMIN]
    db = b"".join(p.read_bytes() for p in tmp_path.glob("gw.db*"))
    assert sqlite_store.count_interactions() >= 8
    for secret in secrets:
        for where, text in (("log", caplog.text), ("metrics", metrics)):
            assert secret not in text, f"a key is in the {where}"
        assert secret.encode() not in db, "a key is in the database"
    assert "client keys required on /v1 for: beta, pinned, qa, web" in caplog.text


def test_the_openai_client_works_with_a_client_key(
    open_gateway: Callable[..., GatewayHandle],
) -> None:
    gw = open_gateway()

    def connect(key: str, retries: int = 0) -> openai.OpenAI:
        return openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=retries)

    with connect(WEB_KEY) as client:
        answer = client.chat.completions.create(model="any", messages=CHAT["messages"])
        assert answer.choices[0].message.content
        stream = client.chat.completions.create(model="any", messages=CHAT["messages"], stream=True)
        assert list(stream)
        assert {m.id for m in client.models.list()} == {"model-stable", "model-canary"}
    with connect("sk-wrong") as wrong, pytest.raises(openai.AuthenticationError) as info:
        wrong.models.list()
    assert info.value.code == "invalid_api_key"
    with connect(QA_KEY) as qa, pytest.raises(openai.RateLimitError) as limited:
        for _ in range(3):
            qa.models.list()
    assert limited.value.code == "rate_limit_exceeded"
    # With retries on, the client honours retry-after-ms and gets through.
    with connect(QA_KEY, retries=3) as patient:
        assert patient.models.list().data


# -- configuration -------------------------------------------------------------------


BASE = """\
versions:
  stable: {url: "http://127.0.0.1:9001/v1", model: m1}
  canary: {url: "http://127.0.0.1:9002/v1", model: m2}
stable: stable
candidate: canary
"""


def issues(text: str) -> list[tuple[str, int | None, str]]:
    with pytest.raises(ConfigError) as info:
        parse_config(BASE + text, env={})
    return [(i.path, i.line, i.message) for i in info.value.issues]


def test_config_errors_name_the_path() -> None:
    [(path, line, message)] = issues(
        "clients:\n  keys:\n    web: {key_env: WEB_KEY, versions: [stable, v9]}\n"
    )
    assert (path, line) == ("clients", 6)
    assert message.startswith("keys.web.versions[1]: 'v9' is not a key of `versions`")
    assert issues("clients:\n  keys:\n    web: {key_env: W, rate_limt: {}}\n") == [
        ("clients.keys.web.rate_limt", 8, "unknown key")
    ]
    assert ("clients.kyes", 7, "unknown key") in issues("clients:\n  kyes: {}\n")
    assert issues("clients:\n  keys:\n    web: {key_env: 9X}\n") == [
        ("clients.keys.web.key_env", 8, "'9X' is not an environment variable name")
    ]
    [(path, _, message)] = issues("clients:\n  keys:\n    a: {key_env: K}\n    b: {key_env: K}\n")
    assert path == "clients.keys" and "a and b both read K" in message
    [(path, _, message)] = issues("clients:\n  keys:\n    admin: {key_env: K}\n")
    assert path == "clients.keys" and "reserved for the admin token" in message
    [(path, _, message)] = issues("clients:\n  keys: {}\n")
    assert "at least one client" in message
    [(path, _, _)] = issues(
        "clients:\n  keys:\n    web: {key_env: K, rate_limit: {requests_per_minute: 0}}\n"
    )
    assert path == "clients.keys.web.rate_limit.requests_per_minute"


def test_burst_defaults_to_a_tenth_of_the_rate_and_spelling_it_out_changes_nothing() -> None:
    from saferollout.config import config_hash

    implicit = parse_config(
        BASE + "clients: {keys: {web: {key_env: K, rate_limit: {requests_per_minute: 600}}}}",
        env={},
    )
    explicit = parse_config(
        BASE
        + "clients: {keys: {web: {key_env: K, rate_limit: {requests_per_minute: 600, burst: 60}}}}",
        env={},
    )
    assert implicit.clients is not None and implicit.clients.keys["web"].rate_limit is not None
    assert implicit.clients.keys["web"].rate_limit.burst == 60
    assert config_hash(implicit) == config_hash(explicit)


def test_missing_short_or_shared_keys_stop_the_gateway_naming_the_variable(
    gateway_factory: Callable[..., GatewayHandle], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config("http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1")
    monkeypatch.delenv("QA_KEY")
    with pytest.raises(ClientKeysError, match=r"clients\.keys\.qa\.key_env: .*QA_KEY is not set"):
        gateway_factory(config)
    monkeypatch.setenv("QA_KEY", "short")
    with pytest.raises(ClientKeysError) as short:
        gateway_factory(config)
    assert "QA_KEY is shorter than 16" in str(short.value) and "short" not in str(
        short.value
    ).replace("shorter", "")
    monkeypatch.setenv("QA_KEY", WEB_KEY)
    with pytest.raises(ClientKeysError) as shared:
        gateway_factory(config)
    assert "same as client web's" in str(shared.value) and WEB_KEY not in str(shared.value)
    monkeypatch.setenv("QA_KEY", ADMIN)
    with pytest.raises(UpstreamConfigError, match="same as the admin token's") as admin:
        gateway_factory(config, admin_token=ADMIN)
    assert ADMIN not in str(admin.value)


def test_the_example_clients_block_is_valid_once_uncommented() -> None:
    text = (ROOT / "examples" / "rollout.yaml").read_text()
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("# clients:")]
    assert starts, "examples/rollout.yaml shows no commented-out `clients:` block"
    block = [lines[starts[0]]]
    for line in lines[starts[0] + 1 :]:
        if not line.startswith("#  "):
            break
        block.append(line)
    uncommented = "\n".join(line[2:] for line in block)
    cfg = parse_config(text + "\n" + uncommented + "\n", env={})
    assert cfg.clients is not None and len(cfg.clients.keys) >= 2
    assert any(k.versions for k in cfg.clients.keys.values())
    assert any(k.rate_limit for k in cfg.clients.keys.values())


def test_without_clients_the_gateway_stays_open(
    backends: Callable[..., BackendHandle],
    gateway_factory: Callable[..., GatewayHandle],
) -> None:
    url = backends().base_url
    gw = gateway_factory(make_config(url, url, clients=""))
    assert gw.gateway.clients is None
    r = httpx.post(gw.url + "/v1/chat/completions", json=CHAT)
    assert r.status_code == 200
    assert "saferollout_client_requests" not in httpx.get(gw.url + "/metrics").text
