"""Reports: self-contained HTML (and JSON) for demo runs, rollouts and preflight.

``render`` and the format filters are shared by every report; templates live in
``report/templates`` and extend ``base.html.j2``.
"""

from __future__ import annotations

from saferollout.report._html import (
    chart_spec,
    environment,
    fmt_duration,
    fmt_interval,
    fmt_number,
    fmt_percent,
    fmt_time,
    render,
    series_color,
)
from saferollout.report._rollout import (
    ReportError,
    build_rollout_report,
    render_rollout_html,
    rollout_charts,
    write_rollout_report,
)

__all__ = [
    "ReportError",
    "build_rollout_report",
    "chart_spec",
    "environment",
    "fmt_duration",
    "fmt_interval",
    "fmt_number",
    "fmt_percent",
    "fmt_time",
    "render",
    "render_rollout_html",
    "rollout_charts",
    "series_color",
    "write_rollout_report",
]
