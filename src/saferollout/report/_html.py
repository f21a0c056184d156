"""HTML rendering for every report: one jinja2 environment, filters, charts.

Reports are single self-contained files (sent by mail, attached to a ticket,
opened offline), so the vendored uPlot is inlined rather than linked. Every
template extends ``base.html.j2``; autoescape is always on, so model output
and anything else taken from records is shown as text, never as markup.

Charts are described in Python as plain dicts (``chart_spec``) and drawn in
the browser by the small script in ``base.html.j2``; a child template shows
one with ``{% from "_charts.html.j2" import chart %}{{ chart(spec) }}``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

import jinja2
import orjson
from markupsafe import Markup

from saferollout.assets import UPLOT_CSS, UPLOT_JS, read_asset

_DASH = "\u2014"

PALETTE = {
    "stable": "#2563eb",
    "candidate": "#dc2626",
    "other": ["#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04"],
}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def fmt_number(value: Any, digits: int = 0) -> str:
    """1234.5 -> "1,235" (digits=0) or "1,234.50" (digits=2); None -> a dash."""
    if _missing(value):
        return _DASH
    return f"{float(value):,.{digits}f}"


def fmt_percent(value: Any, digits: int = 1) -> str:
    """A fraction as a percent: 0.0123 -> "1.2%"; None -> a dash."""
    if _missing(value):
        return _DASH
    return f"{100.0 * float(value):.{digits}f}%"


def fmt_interval(value: Any, percent: bool = True, digits: int = 1) -> str:
    """A (low, high) pair as "[0.8%, 2.1%]" (or plain numbers with percent=False)."""
    if value is None:
        return _DASH
    try:
        low, high = value
    except (TypeError, ValueError):
        return _DASH
    fmt = fmt_percent if percent else fmt_number
    return f"[{fmt(low, digits)}, {fmt(high, digits)}]"


def fmt_time(value: Any, seconds: bool = True) -> str:
    """Epoch seconds as UTC "2024-05-01 12:03:04Z"; None -> a dash."""
    if _missing(value):
        return _DASH
    moment = datetime.fromtimestamp(float(value), tz=UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M") + "Z"


def fmt_duration(value: Any) -> str:
    """Seconds as "850 ms", "12.3 s" or "4 min 05 s"; None -> a dash."""
    if _missing(value):
        return _DASH
    s = float(value)
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 120:
        return f"{s:.1f} s"
    minutes, rest = divmod(round(s), 60)
    return f"{minutes} min {rest:02d} s"


def fmt_pretty_json(value: Any) -> str:
    """Indented JSON as plain text (autoescape then makes it safe to show)."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode()


def series_color(name: str, index: int) -> str:
    """The colour a version gets in every chart (stable blue, candidate red)."""
    if name in PALETTE:
        return str(PALETTE[name])
    others = PALETTE["other"]
    return others[index % len(others)]


def chart_spec(
    title: str,
    x: Sequence[float],
    series: Sequence[Mapping[str, Any]],
    *,
    x_time: bool = True,
    y_label: str = "",
    y_percent: bool = False,
    stepped: bool = False,
    markers: Sequence[Mapping[str, Any]] = (),
    height: int = 240,
) -> dict[str, Any]:
    """A chart for the browser script in base.html.j2.

    ``series``: dicts with ``label``, ``values`` (same length as ``x``, None
    for a gap), optional ``lower``/``upper`` (an interval drawn as a band),
    ``color``. ``markers``: vertical lines ``{"x", "label"}`` (the decision).
    ``x_time``: x is epoch seconds. ``y_percent``: values are fractions.
    """
    n = len(x)
    out_series = []
    for i, s in enumerate(series):
        values = list(s["values"])
        if len(values) != n:
            raise ValueError(
                f"chart {title!r}: series {s['label']!r} has {len(values)} values for {n} x points"
            )
        entry: dict[str, Any] = {
            "label": str(s["label"]),
            "color": s.get("color") or series_color(str(s["label"]), i),
            "values": [None if _missing(v) else float(v) for v in values],
        }
        for key in ("lower", "upper"):
            if s.get(key) is not None:
                band = list(s[key])
                if len(band) != n:
                    raise ValueError(f"chart {title!r}: {key} of {s['label']!r} has wrong length")
                entry[key] = [None if _missing(v) else float(v) for v in band]
        out_series.append(entry)
    return {
        "title": title,
        "x": [float(v) for v in x],
        "x_time": x_time,
        "series": out_series,
        "y_label": y_label,
        "y_percent": y_percent,
        "stepped": stepped,
        "markers": [{"x": float(m["x"]), "label": str(m.get("label", ""))} for m in markers],
        "height": height,
    }


@cache
def environment() -> jinja2.Environment:
    """The shared environment: templates of this package, autoescape always on."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("saferollout.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = fmt_number
    env.filters["pct"] = fmt_percent
    env.filters["interval"] = fmt_interval
    env.filters["time"] = fmt_time
    env.filters["duration"] = fmt_duration
    env.filters["pretty"] = fmt_pretty_json
    # Vendored, trusted files (checked to contain no "</script"); inlined so
    # the report needs no network.
    env.globals["uplot_js"] = Markup(read_asset(UPLOT_JS))
    env.globals["uplot_css"] = Markup(read_asset(UPLOT_CSS))
    return env


def render(template: str, **context: Any) -> str:
    """Render one template of report/templates with the given context."""
    return environment().get_template(template).render(**context)
