"""Preflight fixtures: a pair of simulated model servers and a rollout.yaml for them.

Both servers get the same seed: a `healthy` candidate then answers exactly as
stable does, and a `regressed` one refuses a subset of what stable refuses, so
pass and fail do not depend on sampling noise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from saferollout.config import RolloutConfig, parse_config
from saferollout.simulation import BackendHandle, start_backend

ALERT_SINK = '  sinks: [{name: hook, type: webhook, url: "http://127.0.0.1:9/hook"}]'


def config_text(
    stable: BackendHandle,
    candidate: BackendHandle,
    db: Path,
    *,
    alerts: bool = True,
    extra: str = "",
) -> str:
    return f"""
name: pf
versions:
  stable: {{url: "{stable.base_url}", model: m1}}
  candidate: {{url: "{candidate.base_url}", model: m2}}
stable: stable
candidate: candidate
storage: {{url: "sqlite:///{db}"}}
safety:
  guardrails: {{input: {{mode: flag}}}}
alerts:
{ALERT_SINK if alerts else "  sinks: []"}
{extra}
"""


@pytest.fixture
def servers(request: pytest.FixtureRequest) -> Iterator[tuple[BackendHandle, BackendHandle]]:
    """(stable, candidate); the candidate's profile is the test's parameter."""
    profile = getattr(request, "param", "healthy")
    with (
        start_backend("stable", latency_ms=1, seed=3) as stable,
        start_backend(profile, latency_ms=1, seed=3) as candidate,
    ):
        yield stable, candidate


@pytest.fixture
def make_config(
    servers: tuple[BackendHandle, BackendHandle], tmp_path: Path
) -> Callable[..., RolloutConfig]:
    def make(**kwargs: object) -> RolloutConfig:
        text = config_text(*servers, tmp_path / "pf.db", **kwargs)  # type: ignore[arg-type]
        return parse_config(text)

    return make
