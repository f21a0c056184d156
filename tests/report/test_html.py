"""The shared HTML layer: filters, escaping, inlined uPlot, charts drawn in Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from saferollout.report import (
    chart_spec,
    environment,
    fmt_duration,
    fmt_interval,
    fmt_number,
    fmt_percent,
    fmt_time,
)

_PAGE = (
    '{% extends "base.html.j2" %}{% from "_charts.html.j2" import chart %}'
    "{% block content %}<p id='payload'>{{ payload }}</p>"
    "{% for spec in specs %}{{ chart(spec) }}{% endfor %}{% endblock %}"
)


def test_filters_format_numbers_percent_intervals_and_times() -> None:
    assert fmt_number(1234.5) == "1,234"
    assert fmt_number(1234.5, 2) == "1,234.50"
    assert fmt_percent(0.0123) == "1.2%"
    assert fmt_interval((0.01, 0.025)) == "[1.0%, 2.5%]"
    assert fmt_interval((1.5, 20.25), percent=False, digits=1) == "[1.5, 20.2]"
    assert fmt_time(0) == "1970-01-01 00:00:00Z"
    assert fmt_duration(0.25) == "250 ms" and fmt_duration(125) == "2 min 05 s"
    for f in (fmt_number, fmt_percent, fmt_time, fmt_duration):
        assert f(None) == "\u2014"
        assert f(float("nan")) == "\u2014"
    assert fmt_interval(None) == "\u2014"


def test_chart_spec_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="has 1 values for 2 x points"):
        chart_spec("t", [1, 2], [{"label": "stable", "values": [1]}])


def test_page_escapes_text_and_draws_charts(page, tmp_path: Path) -> None:
    xss = '<img src=x onerror="window.pwned=1"></script><script>window.pwned=2</script>'
    specs = [
        chart_spec(
            "rate",
            [1000, 1060, 1120],
            [
                {
                    "label": "stable",
                    "values": [0.01, 0.012, None],
                    "lower": [0.0, 0.005, None],
                    "upper": [0.03, 0.02, None],
                },
                {"label": xss, "values": [0.02, 0.05, 0.08]},
            ],
            y_percent=True,
            markers=[{"x": 1120, "label": "rolled back"}],
        ),
        chart_spec("weights", [0, 1], [{"label": "candidate", "values": [1, 5]}], stepped=True),
    ]
    html = environment().from_string(_PAGE).render(payload=xss, specs=specs)
    assert "<img src=x" not in html
    out = tmp_path / "r.html"
    out.write_text(html)
    page.goto(out.as_uri())
    assert page.text_content("#payload") == xss
    assert page.evaluate("window.pwned") is None
    counts = page.evaluate("window.srCharts.map(u => [u.data.length, u.data[0].length])")
    # rate: x + stable + its two bounds + the second series; weights: x + one series.
    assert counts == [[5, 3], [2, 2]]
    assert page.locator("canvas").count() == 2
