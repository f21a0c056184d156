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
    CanaryStep,
    LoggingConfig,
    PauseConfig,
    RolloutConfig,
    ServerConfig,
    StickinessConfig,
    StickySource,
    StorageConfig,
    StrategyConfig,
    VersionConfig,
)
from ._safety import SafetyConfig

__all__ = [
    "CanaryStep",
    "ConfigError",
    "ConfigIssue",
    "LoggingConfig",
    "PauseConfig",
    "RolloutConfig",
    "SafetyConfig",
    "ServerConfig",
    "StickinessConfig",
    "StickySource",
    "StorageConfig",
    "StrategyConfig",
    "VersionConfig",
    "config_hash",
    "config_schema",
    "load_config",
    "parse_config",
    "version_hash",
]
