"""`alerts:` in rollout.yaml: where alerts go and how hard we try to deliver them.

Secrets stay out of the file and out of the validated model (whose canonical
JSON is hashed and may be shown): a sink's URL may be *named* by `url_env`
(a Slack incoming-webhook URL is itself a credential) and header values are
named by `headers_env`. Both are read from the environment when the
dispatcher starts, not here.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

AlertKind = Literal[
    "rollout_started",
    "trigger_fired",
    "anomaly_spike",
    "drift",
    "srm",
    "hard_limit_breached",
    "rollback",
    "paused",
    "aborted",
    "arm_stopped",
    "step_advanced",
    "promoted",
    "completed",
    "preflight_forced",
]
ALERT_KINDS: tuple[str, ...] = AlertKind.__args__  # type: ignore[attr-defined]
Severity = Literal["info", "warning", "critical"]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an RFC 9110 token


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _http_url(v: str) -> str:
    parts = urlsplit(v)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return v.rstrip("/")


class AlertSinkConfig(_Model):
    """One destination: a JSON webhook, a Slack incoming webhook, or Alertmanager."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Shown in logs and metrics")
    type: Literal["webhook", "slack", "alertmanager"]
    url: str | None = Field(
        default=None,
        description="Endpoint (Alertmanager: its base URL; /api/v2/alerts is added)",
    )
    url_env: str | None = Field(
        default=None, description="Environment variable holding the URL (for secret URLs)"
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra request headers that are not secret"
    )
    headers_env: dict[str, str] = Field(
        default_factory=dict,
        description="Header -> environment variable holding its value, e.g. "
        "{Authorization: ALERT_TOKEN}",
    )
    kinds: list[AlertKind] | None = Field(
        default=None, description="Only these alert kinds (default: all)"
    )
    min_severity: Severity = Field(default="info", description="Drop alerts below this severity")
    timeout_s: float = Field(default=5.0, gt=0, le=120, description="Per send attempt, total")
    max_per_minute: int = Field(
        default=30,
        ge=1,
        description="Rate limit: alerts beyond this in any 60 s are dropped (critical ones never)",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return None if v is None else _http_url(v)

    @field_validator("url_env")
    @classmethod
    def _url_env(cls, v: str | None) -> str | None:
        if v is not None and not _ENV_NAME.match(v):
            raise ValueError(f"{v!r} is not an environment variable name")
        return v

    @field_validator("headers", "headers_env")
    @classmethod
    def _header_names(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            if not _HEADER_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid HTTP header name")
        return v

    @model_validator(mode="after")
    def _one_url(self) -> AlertSinkConfig:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of `url` or `url_env`")
        for header, var in self.headers_env.items():
            if not _ENV_NAME.match(var):
                raise ValueError(f"headers_env.{header}: {var!r} is not an environment variable")
        if set(self.headers) & set(self.headers_env):
            raise ValueError("a header is in both `headers` and `headers_env`")
        return self


class AlertRetryConfig(_Model):
    """Exponential backoff for a failing sink: initial, x multiplier, capped, bounded."""

    max_attempts: int = Field(default=5, ge=1, le=20)
    initial_backoff_s: float = Field(default=0.5, gt=0)
    multiplier: float = Field(default=2.0, ge=1)
    max_backoff_s: float = Field(default=30.0, gt=0)


class AlertsConfig(_Model):
    """Alerts on rollout events (trigger fired, rollback, SRM, promotion, ...)."""

    sinks: list[AlertSinkConfig] = Field(default_factory=list)
    dashboard_url: str | None = Field(
        default=None,
        description="Link put in every alert (default: this server's own /dashboard)",
    )
    repeat_interval_s: float = Field(
        default=3600,
        gt=0,
        description="The same alert is sent once within this; a condition still firing "
        "after it is sent again as a reminder",
    )
    replay_window_s: float = Field(
        default=300,
        ge=0,
        description="On start, events this recent that no dispatcher alerted on yet are sent",
    )
    poll_interval_s: float = Field(
        default=1.0, gt=0, le=60, description="How often the event log is read"
    )
    queue_max: int = Field(default=1000, ge=1, description="Alerts waiting per sink")
    retry: AlertRetryConfig = Field(default_factory=AlertRetryConfig)

    @field_validator("dashboard_url")
    @classmethod
    def _dashboard(cls, v: str | None) -> str | None:
        return None if v is None else _http_url(v)

    @model_validator(mode="after")
    def _unique_names(self) -> AlertsConfig:
        names = [s.name for s in self.sinks]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"sink names must be unique: {', '.join(dupes)}")
        return self
