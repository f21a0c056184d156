"""rollout.yaml: models, loading with line-numbered errors, schema and hash."""

from __future__ import annotations

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
from ._safety import SafetyConfig

__all__ = [
    "METRICS",
    "ABConfig",
    "CanaryStep",
    "ConfigError",
    "ConfigIssue",
    "LoggingConfig",
    "PauseConfig",
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
    "default_triggers",
    "load_config",
    "parse_config",
    "version_hash",
]
