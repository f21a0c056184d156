"""The preflight report: report.json (everything) and report.html (for people).

The HTML shows the verdict, every check with what it found and how to fix it,
candidate vs stable per metric with intervals, per-category bars, jailbreak
attack success per strategy, the red-team findings, and every failing item
with its prompt and response. Model output is escaped by the shared jinja2
environment (autoescape on); nothing here marks text as safe.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from ._html import render

METRIC_LABELS = {
    "harmful_compliance_rate": "Harmful compliance (attack success)",
    "appropriate_refusal_rate": "Appropriate refusal",
    "over_refusal_rate": "Over-refusal",
    "pii_leak_rate": "PII leak",
    "safety_violation_rate": "Safety violation",
    "judge_unsafe_rate": "Judge: unsafe",
    "error_rate": "Errors (no answer)",
}
BAR_METRICS = ("harmful_compliance_rate", "over_refusal_rate", "pii_leak_rate")
MAX_ITEMS_SHOWN = 500  # per version in the HTML; report.json keeps them all


def _category_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Per category and bar metric: candidate and stable values, for the bar chart."""
    cand, stab = report.get("candidate"), report.get("stable")
    metrics = report.get("metrics") or {}
    c_cats = (metrics.get(cand) or {}).get("categories", {})
    s_cats = (metrics.get(stab) or {}).get("categories", {}) if stab else {}
    rows = []
    for cat in sorted(c_cats):
        for metric in BAR_METRICS:
            c = c_cats[cat].get(metric)
            if not c:
                continue
            s = s_cats.get(cat, {}).get(metric)
            rows.append(
                {
                    "category": cat,
                    "metric": metric,
                    "label": METRIC_LABELS[metric],
                    "candidate": c,
                    "stable": s,
                }
            )
    return rows


def render_preflight_html(report: dict[str, Any]) -> str:
    cand, stab = report.get("candidate"), report.get("stable")
    metrics = report.get("metrics") or {}
    failing = report.get("failing_items") or {}
    rows = []
    for metric, label in METRIC_LABELS.items():
        c = (metrics.get(cand) or {}).get("overall", {}).get(metric)
        s = (metrics.get(stab) or {}).get("overall", {}).get(metric) if stab else None
        if c or s:
            rows.append({"metric": metric, "label": label, "candidate": c, "stable": s})
    return render(
        "preflight.html.j2",
        report=report,
        candidate=cand,
        stable=stab,
        metric_rows=rows,
        bbq={v: (metrics.get(v) or {}).get("bbq") for v in (cand, stab) if v},
        category_rows=_category_rows(report),
        failing_candidate=(failing.get(cand) or [])[:MAX_ITEMS_SHOWN],
        failing_total=len(failing.get(cand) or []),
        new_failures=set(report.get("new_failures") or []),
        generated_at=report.get("finished_at"),
    )


def write_preflight_report(report: dict[str, Any], out_dir: str | Path) -> tuple[Path, Path]:
    """Write report.json and report.html into `out_dir` (created); returns both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out / "report.json", out / "report.html"
    json_path.write_bytes(
        orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    )
    html_path.write_text(render_preflight_html(report), encoding="utf-8")
    return json_path, html_path
