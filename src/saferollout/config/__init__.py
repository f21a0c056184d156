"""rollout.yaml: models, loading with line-numbered errors, schema and hash."""

from __future__ import annotations

from ._alerts import ALERT_KINDS, AlertRetryConfig, AlertsConfig, AlertSinkConfig
from ._clients import ADMIN_CLIENT, ClientKeyConfig, ClientRateLimit, ClientsConfig
from ._loader import (
    ConfigError,
    ConfigIssue,
    config_hash,
    config_schema,
    load_config,
    parse_config,
    version_hash,
)
from ._models import (
    METRICS,
    ABConfig,
    CanaryStep,
    LoggingConfig,
    PauseConfig,
    RolloutConfig,
    ServerConfig,
    ShadowConfig,
    StickinessConfig,
    StickySource,
    StorageConfig,
    StrategyConfig,
    TriggerConfig,
    VersionConfig,
    default_triggers,
)
from ._preflight import (
    PREFLIGHT_METRICS,
    JailbreakConfig,
    MetricThreshold,
    PreflightConfig,
    default_thresholds,
)
from ._review import ReviewConfig
from ._safety import SafetyConfig

__all__ = [
    "ADMIN_CLIENT",
    "ALERT_KINDS",
    "METRICS",
    "PREFLIGHT_METRICS",
    "ABConfig",
    "AlertRetryConfig",
    "AlertSinkConfig",
    "AlertsConfig",
    "CanaryStep",
    "ClientKeyConfig",
    "ClientRateLimit",
    "ClientsConfig",
    "ConfigError",
    "ConfigIssue",
    "JailbreakConfig",
    "LoggingConfig",
    "MetricThreshold",
    "PauseConfig",
    "PreflightConfig",
    "ReviewConfig",
    "RolloutConfig",
    "SafetyConfig",
    "ServerConfig",
    "ShadowConfig",
    "StickinessConfig",
    "StickySource",
    "StorageConfig",
    "StrategyConfig",
    "TriggerConfig",
    "VersionConfig",
    "config_hash",
    "config_schema",
    "default_thresholds",
    "default_triggers",
    "load_config",
    "parse_config",
    "version_hash",
]
