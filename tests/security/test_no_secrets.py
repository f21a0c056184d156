"""Known secrets go in; none comes out of anything the system wrote.

A real rollout (`saferollout serve` in a child process, scoring worker
included, `logging.redact: pii`) runs with known values for: both upstream API
keys (`api_key_env`), the admin token (`admin_token_env`), an alert webhook
whose URL and header are credentials (`url_env`, `headers_env`), and a
client's own `Authorization` header. Prompts carry PII-like secrets, the
candidate echoes them back, one sink fails once, the candidate fails for a
while, admins pause, resume and roll back. Then every byte the run wrote is
searched: its log (verbose), the SQLite database and its WAL, /metrics,
/admin/*, the dashboard and its live JSON, error bodies, `saferollout status`
and `logs` output and export. A second run with `redact: drop` keeps no text.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from saferollout.cli._runtime import Runtime
from saferollout.config import parse_config
from saferollout.store import Store

from ..faults.fault_upstream import FaultUpstream
from ..monitoring.alert_receiver import AlertReceiver
from ..servers import free_port, wait_ready
from .secrets_grep import files_under, grep

SECRETS = {
    "stable upstream key": "sk-stab-9f1c77e2a0d84b3e-UPSTREAM",
    "candidate upstream key": "sk-cand-4a9be2c1d07f6e55-UPSTREAM",
    "admin token": "adm-71e0c9d4b2a5f836-TOKEN",
    "alert webhook path": "hookpath-3c8e5d1a9b7f2046",
    "alert header": "hdr-e5b1a7c9d3f06284-SECRET",
    "client authorization": "sk-client-0d6f2b8e4a1c9735",
    "wrong token tried": "wrong-b4d2f9e1c7a03586",
}
PII = {
    "email": "jane.q.h8@example.com",
    "phone": "+1 415-555-0132",
    "ssn": "123-45-6789",
    "card": "4111 1111 1111 1111",
    "api key in a prompt": "sk-proj-Zq8hT3vB6nW1xR4yK7mJ2cF5",
}
MASKS = ["<EMAIL_ADDRESS>", "<PHONE_NUMBER>", "<US_SSN>", "<CREDIT_CARD>", "<API_KEY>"]


def prompts() -> list[str]:
    p = PII
    return [
        f"My email is {p['email']}, please write to me.",
        f"Call me at {p['phone']} tomorrow.",
        f"My SSN is {p['ssn']} and my card is {p['card']}.",
        f"Why does {p['api key in a prompt']} not work as my key?",
    ]


class Run:
    """Collects every HTTP body and header the run produced, by name."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = httpx.Client(base_url=url, timeout=15)
        self.outputs: dict[str, bytes] = {}
        self.answers: dict[str, bytes] = {}  # what clients got: may quote their own PII

    def keep(self, name: str, r: httpx.Response, *, answer: bool = False) -> httpx.Response:
        head = "\n".join(f"{k}: {v}" for k, v in r.headers.items()).encode()
        (self.answers if answer else self.outputs)[name] = head + b"\n\n" + r.content
        return r

    def admin(self, method: str, path: str, **kw: object) -> httpx.Response:
        auth = {"Authorization": f"Bearer {SECRETS['admin token']}", "X-Actor": "ops"}
        return self.keep(f"{method} {path}", self.client.request(method, path, headers=auth, **kw))  # type: ignore[arg-type]


def serve_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        H8_STABLE_KEY=SECRETS["stable upstream key"],
        H8_CANDIDATE_KEY=SECRETS["candidate upstream key"],
        H8_ADMIN_TOKEN=SECRETS["admin token"],
        H8_HOOK_HEADER=SECRETS["alert header"],
        SAFEROLLOUT_ADMIN_TOKEN=SECRETS["admin token"],
    )
    return env


def cli(args: list[str], env: dict[str, str]) -> bytes:
    done = subprocess.run(
        [sys.executable, "-m", "saferollout", *args],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout + done.stderr


def test_no_secret_reaches_logs_records_metrics_admin_dashboard_or_errors(
    tmp_path: Path,
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    db = run_dir / "rollout.db"
    port = free_port()
    env = serve_env()
    with (
        FaultUpstream(api_key=SECRETS["stable upstream key"], echo=True) as stable,
        FaultUpstream(api_key=SECRETS["candidate upstream key"], echo=True) as candidate,
        AlertReceiver() as receiver,
    ):
        hook_path = f"/hook/{SECRETS['alert webhook path']}"
        env["H8_HOOK_URL"] = receiver.url + hook_path
        receiver.fail(hook_path, times=1)  # the failure path logs too
        config = run_dir / "rollout.yaml"
        config.write_text(
            f"""
name: secrets
versions:
  stable: {{url: "{stable.base_url}", model: v1, api_key_env: H8_STABLE_KEY}}
  candidate: {{url: "{candidate.base_url}", model: v2, api_key_env: H8_CANDIDATE_KEY,
               timeout_s: 1}}
stable: stable
candidate: candidate
strategy: {{type: canary, interval_s: 0.2, steps: [{{weight: 50, pause: {{}}}}]}}
storage: {{url: "sqlite:///{db}"}}
server: {{port: {port}, flush_interval_s: 0.1, admin_token_env: H8_ADMIN_TOKEN}}
logging: {{redact: pii}}
alerts:
  poll_interval_s: 0.2
  retry: {{initial_backoff_s: 0.1, max_backoff_s: 0.2}}
  sinks:
    - name: ops
      type: webhook
      url_env: H8_HOOK_URL
      headers_env: {{X-Hook-Token: H8_HOOK_HEADER}}
"""
        )
        log = run_dir / "serve.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "saferollout",
                    "serve",
                    "-c",
                    str(config),
                    "-v",
                    "--force-without-preflight",
                    "--report-dir",  # the report of the rollback is scanned too
                    str(run_dir / "reports"),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        url = f"http://127.0.0.1:{port}"
        run = Run(url)
        try:
            wait_ready(url, proc, log)
            client_auth = {"Authorization": f"Bearer {SECRETS['client authorization']}"}
            ids = []
            for i, text in enumerate(prompts() * 4):
                body = {"messages": [{"role": "user", "content": text}], "stream": i % 2 == 1}
                headers = {**client_auth, "X-User-Id": f"user-{i}"}
                r = run.keep(
                    f"chat {i}",
                    run.client.post("/v1/chat/completions", json=body, headers=headers),
                    answer=True,
                )
                assert r.status_code == 200
                ids.append(r.headers["X-Request-Id"])
            assert stable.requests + candidate.requests >= 16
            assert stable.unauthorized == candidate.unauthorized == 0  # the keys were sent
            # Errors: the candidate failing (retried, and forced so not retried), a
            # wrong token, a forced version without a token, a bad body.
            candidate.set("5xx_html")
            forced = {"X-Rollout-Version": "candidate"}
            admin_auth = {"Authorization": f"Bearer {SECRETS['admin token']}"}
            chat = {"messages": [{"role": "user", "content": prompts()[0]}]}
            r = run.keep(
                "forced failing",
                run.client.post(
                    "/v1/chat/completions", json=chat, headers={**forced, **admin_auth}
                ),
            )
            assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_error"
            candidate.set("hang")
            r = run.keep(
                "forced timeout",
                run.client.post(
                    "/v1/chat/completions", json=chat, headers={**forced, **admin_auth}
                ),
            )
            assert r.status_code == 504
            candidate.set("ok")
            wrong = {"Authorization": f"Bearer {SECRETS['wrong token tried']}"}
            assert (
                run.keep("wrong admin", run.client.get("/admin/rollout", headers=wrong)).status_code
                == 401
            )
            r = run.keep(
                "override wrong token",
                run.client.post("/v1/chat/completions", json=chat, headers={**forced, **wrong}),
            )
            assert r.status_code == 403
            r = run.keep(
                "bad body",
                run.client.post("/v1/chat/completions", content=b"{bad", headers=client_auth),
            )
            assert r.status_code == 400
            fb = {"request_id": ids[0], "rating": "down", "report": "pii", "comment": prompts()[2]}
            assert run.keep("feedback", run.client.post("/v1/feedback", json=fb)).status_code == 200
            # Operators steer; the rollback raises an alert through the secret webhook.
            run.admin("POST", "/admin/rollout/pause", json={"reason": "checking"})
            run.admin("POST", "/admin/rollout/resume")
            assert (
                run.admin("POST", "/admin/rollout/rollback", json={"reason": "drill"}).status_code
                == 200
            )
            got = receiver.wait_for(
                lambda reqs: any(r.body.get("kind") == "rollback" for r in reqs),
                hook_path,
                timeout=20,
            )
            assert all(r.headers.get("X-Hook-Token") == SECRETS["alert header"] for r in got)
            assert receiver.attempts[hook_path] > len(got)  # one attempt failed first
            # Wait for the records (the writer process may still be starting) and
            # for the scoring worker: its evidence is stored text too.
            store = Store(f"sqlite:///{db}")
            deadline = time.monotonic() + 60
            while (
                store.count_interactions() < len(ids) or store.count_interactions(scored=False)
            ) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert store.count_interactions() >= len(ids)
            assert store.count_interactions(scored=False) == 0
            rows = store.list_interactions(limit=1000)
            store.close()
            # The report serve writes at the rollback (a child process builds it).
            while not list(run_dir.glob("reports/*/report.html")) and time.monotonic() < deadline:
                time.sleep(0.2)
            for path in (
                "/admin/rollout",
                "/admin/analysis",
                "/admin/events?limit=1000",
                "/admin/sessions?version=candidate",
                "/dashboard",
                "/dashboard/api/live",
            ):
                assert run.admin("GET", path).status_code == 200, path
            run.keep("metrics", run.client.get("/metrics"))
            run.keep("healthz", run.client.get("/healthz"))
            run.keep("readyz", run.client.get("/readyz"))
            cli_env = {**env, "SAFEROLLOUT_SERVER": url}
            run.outputs["cli status"] = cli(["status", "--json"], cli_env)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            run.client.close()

    # What an operator reads later, from the database the run left.
    storage = ["--storage", f"sqlite:///{db}", "--redact", "none"]  # as stored
    run.outputs["cli logs list"] = cli(["logs", "list", *storage], env)
    run.outputs["cli logs summary"] = cli(["logs", "summary", *storage], env)
    run.outputs["cli logs show"] = cli(["logs", "show", ids[2], *storage], env)
    cli(
        ["logs", "export", *storage, "--format", "jsonl", "--out", str(run_dir / "export.jsonl")],
        env,
    )

    written = {**files_under(run_dir), **run.outputs}
    assert "serve.log" in written and "rollout.db" in written and "export.jsonl" in written
    assert any(name.endswith("report.json") for name in written), sorted(written)
    assert b"records written" in written["serve.log"]  # the log was captured to the end
    # Positive control: the grep finds a secret where one is.
    assert grep(SECRETS, {"control": f"token={SECRETS['admin token']}".encode()})

    everything = {**written, **run.answers}
    assert grep(SECRETS, everything) == []
    # PII: only what clients were answered may quote their own prompts back.
    assert grep(PII, written) == []
    # Masked, not dropped: the records keep the text around the masks.
    stored = [r for r in rows if r["request_messages"]]
    assert len(stored) >= 16
    content = " ".join(str(r["request_messages"]) + r["response_text"] for r in stored)
    for mask in MASKS:
        assert mask in content, mask
    assert "please write to me" in content and "You said:" in content


def test_redact_drop_keeps_no_prompt_answer_or_comment_text(tmp_path: Path) -> None:
    db = tmp_path / "drop.db"
    with FaultUpstream(echo=True) as stable, FaultUpstream(echo=True) as candidate:
        cfg = parse_config(
            f"""
name: dropped
versions:
  stable: {{url: "{stable.base_url}", model: v1}}
  candidate: {{url: "{candidate.base_url}", model: v2}}
stable: stable
candidate: candidate
strategy: {{type: canary, interval_s: 0.2, steps: [{{weight: 50, pause: {{}}}}]}}
storage: {{url: "sqlite:///{db}"}}
server: {{flush_interval_s: 0.05}}
logging: {{redact: drop}}
""",
            env={},
        )
        store = Store(cfg.storage.url)
        runtime = Runtime.build(cfg, store)
        with runtime, httpx.Client(base_url=runtime.start_in_thread(scoring=False).url) as client:
            ids = []
            for i, text in enumerate(prompts() * 2):
                body = {"messages": [{"role": "user", "content": text}], "stream": i % 2 == 0}
                r = client.post("/v1/chat/completions", json=body, headers={"X-User-Id": f"u{i}"})
                assert r.status_code == 200 and quotes_pii(r.content)  # the client got its answer
                ids.append(r.headers["X-Request-Id"])
            fb = {"request_id": ids[0], "rating": 1, "comment": prompts()[1]}
            assert client.post("/v1/feedback", json=fb).status_code == 200
            deadline = time.monotonic() + 10
            while store.count_interactions() < len(ids) and time.monotonic() < deadline:
                time.sleep(0.05)
        rows = store.list_interactions(limit=100)
        store.close()
    assert len(rows) == len(ids)
    assert all(r["request_messages"] is None and r["response_text"] == "" for r in rows)
    assert all(r["completion_tokens"] for r in rows)  # counts survive, text does not
    assert grep(PII, files_under(tmp_path)) == []


def quotes_pii(data: bytes) -> bool:
    return any(v.encode() in data for v in PII.values())


@pytest.mark.parametrize("value", list(SECRETS.values())[:1])
def test_grep_sees_encoded_forms(value: str) -> None:
    """The search itself: JSON-escaped, URL-encoded and base64 forms are found."""
    import base64
    import json
    import urllib.parse

    assert grep({"s": value}, {"json": json.dumps({"k": value}).encode()})
    assert grep({"s": value}, {"url": urllib.parse.quote(value, safe="").encode()})
    assert grep({"s": value}, {"b64": base64.b64encode(f"Bearer {value}".encode())})
    assert grep({"s": value}, {"clean": b"nothing here"}) == []
