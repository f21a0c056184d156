"""Watching a rollout: Prometheus metrics, alert sinks, the dashboard, log queries.

Reads the store (and the controller's judgement through the gateway's
`RolloutControl` protocol); never decides anything itself.
"""

from __future__ import annotations

__all__: list[str] = []
