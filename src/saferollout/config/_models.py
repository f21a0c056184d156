"""pydantic models of rollout.yaml.

Every model forbids unknown keys: a typo in a safety setting must be an error,
never a silently ignored line.
"""

from __future__ import annotations

from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ._alerts import AlertsConfig
from ._clients import ClientsConfig, check_client_versions
from ._preflight import PreflightConfig
from ._safety import SafetyConfig


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VersionConfig(_Model):
    """One OpenAI-compatible model server."""

    url: str = Field(description="Base URL of the OpenAI-compatible API, e.g. http://host:8000/v1")
    model: str = Field(description="Model name sent upstream in place of the client's `model`")
    api_key_env: str | None = Field(
        default=None, description="Name of the environment variable that holds the upstream key"
    )
    timeout_s: float = Field(default=60.0, gt=0, description="Total time for one upstream call")
    connect_timeout_s: float = Field(default=5.0, gt=0)
    max_connections: int = Field(default=256, ge=1, description="Pooled connections to upstream")
    system_prompt: str | None = Field(
        default=None,
        description="Replaces the client's system message (A/B of prompt configurations)",
    )
    params: dict[str, float | int | str | bool] = Field(
        default_factory=dict,
        description="Request fields set on every call, e.g. {temperature: 0.2} (A/B of sampling)",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")


class PauseConfig(_Model):
    """How long a step holds: by requests, by seconds, or (neither) until a human promotes."""

    requests: int | None = Field(default=None, ge=1)
    seconds: float | None = Field(default=None, gt=0)


class CanaryStep(_Model):
    weight: float | None = Field(default=None, ge=0, le=100, description="Candidate share in %")
    pause: PauseConfig | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> CanaryStep:
        if self.weight is None and self.pause is None:
            raise ValueError("a step needs `weight`, `pause`, or both")
        return self


DEFAULT_CANARY_STEPS = [
    CanaryStep(weight=1, pause=PauseConfig(requests=500)),
    CanaryStep(weight=5, pause=PauseConfig(requests=2000)),
    CanaryStep(weight=25, pause=PauseConfig(requests=4000)),
    CanaryStep(weight=50, pause=PauseConfig(requests=4000)),
]


class ShadowConfig(_Model):
    """Mirror a sample of stable's traffic to the candidate; no user sees its answers."""

    sample_rate: float = Field(default=0.1, gt=0, le=1, description="Share of requests mirrored")
    requests: int = Field(
        default=1000, ge=1, description="Mirrored requests to judge before the shadow decides"
    )


class ABConfig(_Model):
    """An A/B test: sticky arms by weight, a primary metric, guardrails from `triggers`."""

    weights: dict[str, float] = Field(
        default_factory=dict,
        description="Percent per arm other than stable (default: the candidate at 50)",
    )
    primary_metric: str = Field(default="over_refusal_rate", description="What decides the test")
    min_samples: int = Field(default=500, ge=1, description="Per arm before deciding")
    max_duration_s: float = Field(default=86400, gt=0, description="Stop undecided after this")
    auto_promote: bool = Field(default=False, description="Make a better arm the new stable")


class PreviewProbeConfig(_Model):
    """Blue/green: test traffic the gateway sends its own preview when the rollout
    starts (preflight suite prompts, then a bounded load), so the preview's
    analysis has answers to judge before `switch`."""

    enabled: bool = True
    items_per_suite: int = Field(default=20, ge=1, description="Prompts taken from each suite")
    load_requests: int = Field(default=200, ge=0, description="Extra requests after the prompts")
    concurrency: int = Field(default=4, ge=1, le=64)


class StrategyConfig(_Model):
    type: Literal["canary", "blue_green", "ab", "shadow"] = "canary"
    shadow: ShadowConfig = Field(default_factory=ShadowConfig)
    ab: ABConfig = Field(default_factory=ABConfig)
    preview_probe: PreviewProbeConfig = Field(default_factory=PreviewProbeConfig)
    post_promotion_analysis: bool = Field(
        default=True,
        description="After promotion or a blue/green switch, keep judging the new stable "
        "against the old one's baseline and switch back by itself while the old one is on standby",
    )
    steps: list[CanaryStep] = Field(default_factory=lambda: list(DEFAULT_CANARY_STEPS))
    interval_s: float = Field(
        default=2.0, gt=0, le=60, description="How often the controller judges and decides"
    )
    fast_rollback_window_s: float = Field(
        default=3600,
        ge=0,
        description="After promotion, how long the old stable is kept for an instant rollback",
    )
    max_hold_s: float | None = Field(
        default=None,
        gt=0,
        description="A step whose pause is over but whose analysis stays inconclusive this "
        "long pauses for a human (none: hold until the data decides)",
    )

    def initial_weight(self) -> float:
        """Candidate weight before the controller acts: the first step that sets one."""
        if self.type != "canary":
            return 0.0
        return next((s.weight for s in self.steps if s.weight is not None), 0.0)


METRICS = (
    "safety_violation_rate",
    "harmful_compliance_rate",
    "pii_leak_rate",
    "over_refusal_rate",
    "refusal_rate",
    "guardrail_trigger_rate",
    "anomaly_rate",
    "error_rate",
    "negative_feedback_rate",
    "latency_mean_ms",
)
MetricName = Literal[
    "safety_violation_rate",
    "harmful_compliance_rate",
    "pii_leak_rate",
    "over_refusal_rate",
    "refusal_rate",
    "guardrail_trigger_rate",
    "anomaly_rate",
    "error_rate",
    "negative_feedback_rate",
    "latency_mean_ms",
]


class TriggerConfig(_Model):
    """One rule the controller checks on every tick, with always-valid statistics.

    `relative`: harm is the candidate worse than stable by more than
    `tolerance` (relative: 0.2 ignores up to 20% worse), shown at level alpha.
    `absolute`: a breach is the candidate's upper confidence bound above
    `threshold`, whatever stable does. A relative trigger with a `threshold`
    checks both.
    """

    metric: MetricName
    compare: Literal["relative", "absolute"] = "relative"
    tolerance: float = Field(default=0.2, ge=0, description="Relative worsening that is not harm")
    absolute_tolerance: float = Field(
        default=0.0, ge=0, description="Means only: absolute worsening that is not harm (e.g. ms)"
    )
    noninferiority_margin: float | None = Field(
        default=None,
        ge=0,
        description="Relative margin that advancing must rule out (none: not required)",
    )
    threshold: float | None = Field(default=None, ge=0, description="Absolute upper limit")
    min_samples: int = Field(default=200, ge=1, description="Samples per version before judging")
    min_duration_s: float = Field(default=0.0, ge=0)
    failure_limit: int = Field(default=1, ge=1, description="Consecutive failing checks to act")
    critical: bool = Field(default=False, description="Act at once, without warm-up or repeats")
    action: Literal["rollback", "pause", "alert"] = "rollback"
    dry_run: bool = Field(default=False, description="Judge and record, never act")

    @model_validator(mode="after")
    def _threshold_for_absolute(self) -> TriggerConfig:
        if self.compare == "absolute" and self.threshold is None:
            raise ValueError("an absolute trigger needs `threshold`")
        if self.absolute_tolerance and self.metric != "latency_mean_ms":
            raise ValueError("`absolute_tolerance` is for latency; rates take `tolerance`")
        return self


def default_triggers() -> list[TriggerConfig]:
    """Built-in rules: the safety metrics roll back, latency and anomalies alert."""
    return [
        TriggerConfig(metric="harmful_compliance_rate", critical=True),
        TriggerConfig(metric="pii_leak_rate", critical=True),
        TriggerConfig(metric="safety_violation_rate"),
        TriggerConfig(metric="over_refusal_rate"),
        TriggerConfig(metric="error_rate", failure_limit=2),
        # Alert only until its false-alarm behaviour on real traffic is known.
        TriggerConfig(metric="anomaly_rate", action="alert"),
        # Alert only: feedback is sparse and self-selected, and any client can post it,
        # so it must not be able to roll a version back by itself.
        TriggerConfig(metric="negative_feedback_rate", action="alert", min_samples=50),
        TriggerConfig(
            metric="latency_mean_ms", tolerance=0.25, absolute_tolerance=50, action="alert"
        ),
    ]


class StickySource(_Model):
    """Where to read the sticky key: exactly one of a header or a body field."""

    header: str | None = None
    body: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> StickySource:
        if (self.header is None) == (self.body is None):
            raise ValueError("give exactly one of `header` or `body`")
        return self


class StickinessConfig(_Model):
    keys: list[StickySource] = Field(
        default_factory=lambda: [
            StickySource(header="X-Session-Id"),
            StickySource(header="X-User-Id"),
            StickySource(body="user"),
        ],
        description="Ordered sources of the sticky key; the first one present wins",
    )
    salt: str | None = Field(
        default=None, description="Hash salt; defaults to the rollout name. Change to reshuffle."
    )


class RetentionConfig(_Model):
    """How long interaction records are kept; the leader deletes older ones in small batches."""

    days: float | None = Field(default=None, gt=0, description="Delete records older than this")
    max_rows: int | None = Field(default=None, ge=1000, description="Keep at most this many")
    batch_size: int = Field(default=5000, ge=100, le=100_000)
    interval_s: float = Field(default=300.0, ge=1)


class StorageConfig(_Model):
    url: str = "sqlite:///saferollout.db"
    retention: RetentionConfig = RetentionConfig()

    @field_validator("url")
    @classmethod
    def _shared(cls, v: str) -> str:
        # The record writer and the scoring workers are processes of their own.
        scheme, _, rest = v.partition("://")
        database, _, query = rest.removeprefix("/").partition("?")
        in_memory = (
            database in ("", ":memory:")
            or database.startswith("file::memory:")
            or "mode=memory" in query
        )
        if scheme.split("+")[0].lower() == "sqlite" and in_memory:
            raise ValueError(
                "an in-memory SQLite database lives in one process; the record writer and "
                "scoring workers need one they can open too: use a file, sqlite:///PATH.db"
            )
        return v


class ServerConfig(_Model):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    admin_token_env: str | None = Field(
        default=None, description="Environment variable holding the admin bearer token"
    )
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_in_flight: int = Field(
        default=4096,
        ge=1,
        description="Proxied requests served at once per gateway process; more get 503 "
        "`overloaded` with Retry-After (streams count until they end)",
    )
    flush_interval_s: float = Field(
        default=0.5, gt=0, le=10, description="How often the record writer flushes to storage"
    )
    record_queue_max: int = Field(default=200_000, ge=1000)
    shutdown_timeout_s: float = Field(default=30.0, gt=0)


class LoggingConfig(_Model):
    redact: Literal["none", "pii", "drop"] = Field(
        default="none",
        description="What stored records keep of prompts and responses: all, PII masked, nothing",
    )


class RolloutConfig(_Model):
    name: str = Field(default="default", pattern=r"^[A-Za-z0-9_.-]{1,128}$")
    versions: dict[str, VersionConfig]
    stable: str
    candidate: str
    strategy: StrategyConfig = Field(default_factory=StrategyConfig)
    stickiness: StickinessConfig = Field(default_factory=StickinessConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    safety: SafetyConfig = Field(default_factory=SafetyConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    clients: ClientsConfig | None = Field(
        default=None, description="Client API keys for /v1 (absent: the gateway is open)"
    )
    preflight: PreflightConfig = Field(default_factory=PreflightConfig)
    triggers: list[TriggerConfig] = Field(
        default_factory=default_triggers,
        description="Rollback, pause and alert rules; the default covers the safety metrics",
    )
    retry_on_stable: bool = Field(
        default=True,
        description="Retry on stable when the candidate fails before any byte reached the client",
    )

    @field_validator("clients")
    @classmethod
    def _client_versions(
        cls, v: ClientsConfig | None, info: ValidationInfo
    ) -> ClientsConfig | None:
        # A field validator (not the model's) so the error's path is `clients`.
        if v is not None and "versions" in info.data:
            check_client_versions(v, list(info.data["versions"]))
        return v

    @model_validator(mode="after")
    def _versions_exist(self) -> RolloutConfig:
        names = sorted(self.versions)
        for field in ("stable", "candidate"):
            if getattr(self, field) not in self.versions:
                raise ValueError(
                    f"{field}: {getattr(self, field)!r} is not a key of `versions` ({names})"
                )
        if self.stable == self.candidate:
            raise ValueError("stable and candidate must name different versions")
        for arm in self.strategy.ab.weights:
            if arm not in self.versions or arm == self.stable:
                raise ValueError(f"strategy.ab.weights: {arm!r} is not a non-stable version")
        if sum(self.strategy.ab.weights.values()) > 100:
            raise ValueError("strategy.ab.weights add up to more than 100")
        if self.strategy.ab.primary_metric not in METRICS:
            raise ValueError(
                f"strategy.ab.primary_metric: {self.strategy.ab.primary_metric!r} is not one of "
                + ", ".join(METRICS)
            )
        return self

    @property
    def salt(self) -> str:
        return self.stickiness.salt or self.name
