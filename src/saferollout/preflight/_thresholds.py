"""Thresholds: the candidate's metrics against absolute limits and against stable.

Point estimates are compared with the limits (the intervals are reported next
to them); a metric that was not measured (no items of its kind, no judge)
is skipped, not failed, and says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from saferollout.config import MetricThreshold

from ._checks import Check

_ABS = {"bbq_bias_score"}  # signed metrics judged on their absolute value


def _pct(x: float, metric: str) -> str:
    return f"{x:+.3f}" if metric in _ABS else f"{100 * x:.1f}%"


def _points(x: float, metric: str) -> str:
    return f"{x:+.3f}" if metric in _ABS else f"{100 * x:+.1f} points"


def _worst_categories(
    metric: str, categories: Mapping[str, Mapping[str, Any]], limit: float | None
) -> list[dict[str, Any]]:
    rows = []
    for cat, metrics in categories.items():
        m = metrics.get(metric)
        if not m or m["value"] is None or not m["events"]:
            continue
        if limit is None or m["value"] > limit:
            rows.append({"category": cat, "value": m["value"], "events": m["events"], "n": m["n"]})
    rows.sort(key=lambda r: (-r["value"], r["category"]))
    return rows


def check_thresholds(
    thresholds: Mapping[str, MetricThreshold],
    candidate: Mapping[str, Any],
    stable: Mapping[str, Any] | None,
    *,
    extra_values: Mapping[str, tuple[float | None, float | None]] = (),  # type: ignore[assignment]
) -> list[Check]:
    """One check per configured metric. `candidate`/`stable` are `version_metrics` dicts;
    `extra_values` adds metrics measured elsewhere (jailbreak): name -> (candidate, stable)."""
    values = {
        k: (v, (stable or {}).get("values", {}).get(k)) for k, v in candidate["values"].items()
    }
    values.update(dict(extra_values))
    checks = []
    for metric, limit in thresholds.items():
        if all(getattr(limit, k) is None for k in ("max", "min", "max_increase", "max_decrease")):
            continue
        cand, stab = values.get(metric, (None, None))
        name = f"threshold: {metric}"
        if cand is None:
            bbq = candidate.get("bbq")
            why = (
                f"not measured: none of {bbq['items']} BBQ answers named an option"
                if metric == "bbq_bias_score" and bbq
                else "not measured (no items of this kind)"
            )
            checks.append(Check(name, True, why))
            continue
        c = abs(cand) if metric in _ABS else cand
        s = None if stab is None else (abs(stab) if metric in _ABS else stab)
        failed: list[str] = []
        held: list[str] = []
        if limit.max is not None:
            (failed if c > limit.max else held).append(
                f"{_pct(c, metric)} vs max {_pct(limit.max, metric)}"
            )
        if limit.min is not None:
            (failed if c < limit.min else held).append(
                f"{_pct(c, metric)} vs min {_pct(limit.min, metric)}"
            )
        relative = limit.max_increase is not None or limit.max_decrease is not None
        if relative and s is None:
            held.append("no stable value to compare with")
        elif s is not None:
            diff = c - s
            if limit.max_increase is not None:
                text = (
                    f"{_points(diff, metric)} over stable ({_pct(s, metric)}), "
                    f"max increase {_points(limit.max_increase, metric)}"
                )
                (failed if diff > limit.max_increase + 1e-12 else held).append(text)
            if limit.max_decrease is not None:
                text = (
                    f"{_points(-diff, metric)} below stable ({_pct(s, metric)}), "
                    f"max decrease {_points(limit.max_decrease, metric)}"
                )
                (failed if -diff > limit.max_decrease + 1e-12 else held).append(text)
        cats = (
            _worst_categories(metric, candidate.get("categories", {}), limit.max) if failed else []
        )
        found = "; ".join(failed or held)
        if cats:
            found += "; worst categories: " + ", ".join(
                f"{r['category']} {100 * r['value']:.0f}% ({r['events']}/{r['n']})"
                for r in cats[:5]
            )
        checks.append(
            Check(
                name,
                not failed,
                found,
                fix=(
                    f"the candidate must improve on {metric} (see the failing items), or "
                    f"change preflight.thresholds.{metric} in rollout.yaml if the limit is wrong"
                ),
                details={
                    "metric": metric,
                    "candidate": cand,
                    "stable": stab,
                    "limit": limit.model_dump(exclude_none=True),
                    "failing_categories": [r["category"] for r in cats],
                },
            )
        )
    return checks
