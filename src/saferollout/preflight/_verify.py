"""Configuration verification: is the candidate's setup safe to roll out?

Each check names what it looked at, what it found and how to fix it. Checks
never print a secret: at most the name of the variable or the line it is on.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qsl, urlsplit

import sqlalchemy as sa

from saferollout.config import RolloutConfig
from saferollout.safety import build_scorer, find_pii
from saferollout.store import Store
from saferollout.store import schema as store_schema

from ._checks import Check
from ._client import Reply

SAFETY_TRIGGER_METRICS = ("harmful_compliance_rate", "pii_leak_rate", "safety_violation_rate")
_SECRET_NAME = re.compile(r"(key|token|secret|password|passwd|auth|credential)", re.IGNORECASE)


def _check(name: str, ok: bool, found: str, fix: str) -> Check:
    return Check(name, ok, found, fix, section="config")


def check_guardrails(config: RolloutConfig) -> list[Check]:
    s = config.safety
    g = s.guardrails
    on = [
        f"{stage} {mode}"
        for stage, mode in (("input", g.input.mode), ("output", g.output.mode))
        if mode != "off"
    ]
    checks = [
        _check(
            "config: guardrails enabled for the candidate",
            s.enabled and bool(on),
            ("guardrails " + ", ".join(on))
            if s.enabled and on
            else ("safety is disabled" if not s.enabled else "input and output guardrails are off"),
            "set safety.enabled: true and safety.guardrails.input.mode (and/or output.mode) "
            "to flag or block in rollout.yaml",
        )
    ]
    thresholds = s.thresholds.model_dump()
    limits = {f"safety.thresholds.{k}": v for k, v in thresholds.items()}
    if g.input.mode != "off":
        limits["safety.guardrails.input.threshold"] = g.input.threshold
    if g.output.mode != "off":
        limits["safety.guardrails.output.threshold"] = g.output.threshold
    off = sorted(k for k, v in limits.items() if v >= 1.0)
    checks.append(
        _check(
            "config: content filter thresholds set",
            not off,
            "thresholds at 1.0 never fire: " + ", ".join(off)
            if off
            else ", ".join(f"{k.rsplit('.', 1)[-1]}={v:g}" for k, v in limits.items()),
            "lower these thresholds below 1.0 (the defaults are tuned on held-out data)",
        )
    )
    return checks


def check_scorers(config: RolloutConfig) -> Check:
    names = list(config.safety.scorers) + (["judge"] if config.safety.judge.enabled else [])
    broken = []
    for name in names:
        try:
            build_scorer(name, config.safety).close()
        except Exception as exc:
            broken.append(f"{name} ({type(exc).__name__}: {exc})"[:200])
    return _check(
        "config: scorers load",
        bool(names) and not broken,
        ("cannot load: " + "; ".join(broken))
        if broken
        else (f"loaded {', '.join(names)}" if names else "no scorers configured"),
        "check safety.scorers names (see `saferollout config schema`) and that the judge "
        "endpoint's key variable is set",
    )


def check_monitoring(config: RolloutConfig) -> list[Check]:
    sinks = list(config.alerts.sinks)
    env_missing = []
    for sink in sinks:
        if sink.url_env and not os.environ.get(sink.url_env):
            env_missing.append(f"alerts.sinks[{sink.name}].url_env {sink.url_env}")
        env_missing += [
            f"alerts.sinks[{sink.name}].headers_env.{h} {var}"
            for h, var in sink.headers_env.items()
            if not os.environ.get(var)
        ]
    checks = [
        _check(
            "config: monitoring wired (metrics and an alert sink)",
            bool(sinks) and not env_missing,
            (
                "no alert sink configured: nobody would hear of a rollback"
                if not sinks
                else (
                    "unset environment variables: " + ", ".join(env_missing)
                    if env_missing
                    else "Prometheus metrics on /metrics; alert sinks: "
                    + ", ".join(f"{s.name} ({s.type})" for s in sinks)
                )
            ),
            "add at least one sink under alerts.sinks in rollout.yaml, e.g. "
            "{name: oncall, type: slack, url_env: SLACK_WEBHOOK_URL}, and set its variables",
        )
    ]
    rollback = {t.metric for t in config.triggers if t.action == "rollback" and not t.dry_run}
    missing = [m for m in SAFETY_TRIGGER_METRICS if m not in rollback]
    checks.append(
        _check(
            "config: rollback triggers cover the safety metrics",
            not missing,
            "no rollback trigger (action rollback, not dry_run) for: " + ", ".join(missing)
            if missing
            else "rollback triggers on " + ", ".join(SAFETY_TRIGGER_METRICS),
            "add triggers with action: rollback for these metrics (or remove `triggers:` to "
            "use the defaults, which cover them)",
        )
    )
    return checks


def check_reachable(
    config: RolloutConfig, replies: Mapping[str, Reply], problems: Mapping[str, str]
) -> list[Check]:
    """`replies`: each version's answer to the smoke prompt; `problems`: versions not tried."""
    checks = []
    for name in (config.candidate, config.stable):
        if name in problems:
            ok, found = False, problems[name]
        else:
            r = replies.get(name)
            ok = r is not None and r.ok and bool(r.text.strip())
            if r is None:
                found = "not tried"
            elif not r.ok:
                found = f"{config.versions[name].url}: {r.error} after {r.attempts} attempts"
            elif not r.text.strip():
                found = "answered with an empty message"
            else:
                found = f"answered in {r.latency_ms:.0f} ms"
        role = "candidate" if name == config.candidate else "stable"
        checks.append(
            _check(
                f"config: {role} {name!r} reachable and answers a smoke prompt",
                ok,
                found,
                f"check versions.{name}.url, that the server runs and that its key variable is set",
            )
        )
    return checks


def check_storage(config: RolloutConfig, store: Store | None) -> Check:
    """A write that is rolled back: the database accepts writes without keeping any."""
    fix = "check storage.url, the file's directory permissions or the database user's rights"
    if store is None:
        return _check("config: storage writable", False, "storage could not be opened", fix)
    try:
        with store.engine.connect() as conn:
            tx = conn.begin()
            try:
                conn.execute(
                    sa.insert(store_schema.events).values(
                        created_at=0.0,
                        rollout="__preflight_write_check__",
                        kind="write_check",
                        actor="preflight",
                        message="",
                    )
                )
            finally:
                tx.rollback()
    except Exception as exc:
        return _check(
            "config: storage writable", False, f"a write failed: {type(exc).__name__}", fix
        )
    return _check("config: storage writable", True, "a test write succeeded (rolled back)", fix)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_secrets(config: RolloutConfig, raw_text: str | None) -> Check:
    """Secrets come from the environment: named variables are set, none is written literally."""
    problems: list[str] = []
    for name, vc in config.versions.items():
        if vc.api_key_env and not os.environ.get(vc.api_key_env):
            problems.append(f"versions.{name}.api_key_env: {vc.api_key_env} is not set")
        parts = urlsplit(vc.url)
        if parts.password or parts.username:
            problems.append(f"versions.{name}.url has credentials in it")
        if any(_SECRET_NAME.search(k) for k, _ in parse_qsl(parts.query)):
            problems.append(f"versions.{name}.url has a key in its query string")
        problems += [
            f"versions.{name}.params.{k} looks like a secret"
            for k in vc.params
            if _SECRET_NAME.search(k)
        ]
    env = config.server.admin_token_env
    if env and not os.environ.get(env):
        problems.append(f"server.admin_token_env: {env} is not set")
    if not env and not _is_loopback(config.server.host):
        problems.append(f"server.host {config.server.host} is not loopback and no admin token")
    for sink in config.alerts.sinks:
        problems += [
            f"alerts.sinks[{sink.name}].headers.{h} looks like a secret (use headers_env)"
            for h in sink.headers
            if _SECRET_NAME.search(h)
        ]
        if sink.url and "hooks.slack.com/services/" in sink.url:
            problems.append(f"alerts.sinks[{sink.name}].url is a Slack webhook (use url_env)")
    judge = config.safety.judge
    if judge.enabled and judge.api_key_env and not os.environ.get(judge.api_key_env):
        problems.append(f"safety.judge.api_key_env: {judge.api_key_env} is not set")
    if raw_text:
        for entity in find_pii(raw_text, entities=["API_KEY", "SECRET"]):
            line = raw_text.count("\n", 0, entity.start) + 1
            problems.append(f"line {line}: a literal {entity.type.lower()} in the file")
    return _check(
        "config: secrets come from the environment",
        not problems,
        "; ".join(problems)
        if problems
        else "keys and tokens are named by environment variables, which are set",
        "remove literal keys from rollout.yaml, name them with *_env settings "
        "(api_key_env, admin_token_env, url_env, headers_env) and export the variables",
    )


def verify_config(
    config: RolloutConfig,
    *,
    store: Store | None,
    smoke: Mapping[str, Reply],
    unreachable: Mapping[str, str] | None = None,
    raw_text: str | None = None,
) -> list[Check]:
    checks: Sequence[Check] = [
        *check_guardrails(config),
        check_scorers(config),
        *check_monitoring(config),
        *check_reachable(config, smoke, unreachable or {}),
        check_storage(config, store),
        check_secrets(config, raw_text),
    ]
    return list(checks)
