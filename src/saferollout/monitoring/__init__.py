"""Watching a rollout: Prometheus metrics, alert sinks, the dashboard, log queries.

Reads the store (and the controller's judgement through the gateway's
`RolloutControl` protocol); never decides anything itself.
"""

from __future__ import annotations

from ._alert_model import Alert, MetricDetail, alerts_from_event
from ._alert_sinks import AlertsError
from ._alerts import AlertDispatcher, default_dashboard_url
from ._dashboard import Dashboard, add_dashboard
from ._log_export import CSV_COLUMNS, Presenter, write_csv, write_jsonl
from ._log_findings import FINDING_FLAGS, check_finding_flags, findings_from, merge_findings
from ._log_summary import cluster_prompts, normalize_prompt, summarize
from ._logs import (
    PROBLEM_FLAGS,
    LogFilter,
    LogQueryError,
    ScoreFilter,
    SessionExposure,
    categories_of,
    get_interaction,
    iso,
    iter_interactions,
    parse_time,
    prompt_of,
    sessions_exposed,
)
from ._metrics import RolloutCollector

__all__: list[str] = [
    "CSV_COLUMNS",
    "FINDING_FLAGS",
    "PROBLEM_FLAGS",
    "Alert",
    "AlertDispatcher",
    "AlertsError",
    "Dashboard",
    "LogFilter",
    "LogQueryError",
    "MetricDetail",
    "Presenter",
    "RolloutCollector",
    "ScoreFilter",
    "SessionExposure",
    "add_dashboard",
    "alerts_from_event",
    "categories_of",
    "check_finding_flags",
    "cluster_prompts",
    "default_dashboard_url",
    "findings_from",
    "get_interaction",
    "iso",
    "iter_interactions",
    "merge_findings",
    "normalize_prompt",
    "parse_time",
    "prompt_of",
    "sessions_exposed",
    "summarize",
    "write_csv",
    "write_jsonl",
]
