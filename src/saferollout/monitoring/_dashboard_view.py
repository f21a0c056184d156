"""Rendering the dashboard: one jinja2 environment, autoescaped, and its filters.

The full page and the live-refresh fragments come from the same macros
(`dashboard_sections.html.j2`), so what a refresh shows is exactly what a
reload shows, and every value (model output included) passes the same escaping.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import jinja2
import orjson

from ._dashboard_data import SERIES, DashboardData

# Sections of the page that live refresh replaces, by element id suffix.
NONE = "\u2013"  # an en dash: no value
MINUS = "\u2212"
SECTIONS = ("banner", "state", "comparison", "alerts", "flagged", "events")


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    # autoescape=True, not select_autoescape: our templates end in `.j2`,
    # which select_autoescape would leave unescaped.
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("saferollout.monitoring", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["metric_value"] = metric_value
    env.filters["metric_interval"] = metric_interval
    env.filters["metric_range"] = metric_range
    env.filters["clock"] = clock
    env.filters["percent"] = percent
    env.filters["label"] = metric_label
    env.filters["pretty_json"] = pretty_json
    return env


def is_rate(metric: str) -> bool:
    return metric.endswith("_rate")


_LABELS = {"latency_mean_ms": "Mean latency", "pii_leak_rate": "PII leak rate"}


def metric_label(metric: str) -> str:
    """`harmful_compliance_rate` -> `Harmful compliance rate`, for people."""
    return _LABELS.get(metric) or metric.replace("_", " ").capitalize()


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    v = float(value)
    return None if math.isnan(v) else v


def metric_value(value: Any, metric: str) -> str:
    """A rate as a percentage, a latency in ms; a dash when there is none."""
    v = _finite(value)
    if v is None:
        return NONE
    if math.isinf(v):
        return "\u221e" if v > 0 else MINUS + "\u221e"
    if is_rate(metric):
        return f"{v * 100:.2f}%"
    if metric.endswith("_ms"):
        return f"{v:.1f} ms"
    return f"{v:.4g}"


def _bound(v: float, metric: str) -> str:
    if math.isinf(v):
        return "+\u221e" if v > 0 else MINUS + "\u221e"
    return f"{v * 100:+.2f}" if is_rate(metric) else f"{v:+.1f}"


def metric_interval(interval: Any, metric: str) -> str:
    """The always-valid interval of candidate minus stable, in points or ms."""
    if not interval:
        return NONE
    lo, hi = (_finite(x) for x in interval)
    if lo is None or hi is None:
        return NONE
    unit = " pp" if is_rate(metric) else (" ms" if metric.endswith("_ms") else "")
    return f"[{_bound(lo, metric)}, {_bound(hi, metric)}]{unit}"


def metric_range(interval: Any, metric: str) -> str:
    """One version's own interval, in the metric's unit."""
    if not interval:
        return NONE
    lo, hi = interval
    return f"[{metric_value(lo, metric)}, {metric_value(hi, metric)}]"


def percent(value: Any) -> str:
    v = _finite(value)
    return NONE if v is None else f"{v:g}%"


def pretty_json(value: Any) -> str:
    """Evidence as indented JSON text (escaped by the template like any text)."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()


def clock(epoch: Any) -> str:
    if epoch is None:
        return NONE
    return datetime.fromtimestamp(float(epoch), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def render_page(data: DashboardData, *, nonce: str, refresh_s: float, login_required: bool) -> str:
    return (
        environment()
        .get_template("dashboard.html.j2")
        .render(
            d=data,
            nonce=nonce,
            refresh_ms=int(refresh_s * 1000),
            login_required=login_required,
            charts=SERIES,
        )
    )


def render_sections(data: DashboardData) -> dict[str, str]:
    """Each refreshable section's inner HTML, rendered by the page's own macros."""
    module = environment().get_template("dashboard_sections.html.j2").make_module()
    return {name: str(getattr(module, name)(data)) for name in SECTIONS}


def render_login(*, error: str = "", nonce: str) -> str:
    template = environment().get_template("dashboard_login.html.j2")
    return template.render(error=error, nonce=nonce, no_form=False)


def render_error(message: str, *, nonce: str) -> str:
    return (
        environment()
        .get_template("dashboard_login.html.j2")
        .render(error=message, nonce=nonce, no_form=True)
    )
