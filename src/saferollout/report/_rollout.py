"""The report of one rollout: what happened, when, why, with the evidence.

`build_rollout_report` reads a rollout's state, events and records from the
store into one JSON-able dict; `write_rollout_report` writes it as report.json
and a self-contained report.html. The demo adds its scenario header; `serve`
can call the same two functions for a finished rollout.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson

from saferollout.analysis import sample_ratio_mismatch, to_jsonable
from saferollout.store import Store

from ._html import chart_spec, render
from ._rollout_data import (
    SAFETY_METRICS,
    bucket_edges,
    final_rates,
    flagged_interactions,
    latency_summary,
    latency_timeline,
    load_rows,
    rate_timeline,
    requests_by_version,
    weights_timeline,
)

DECISION_KINDS = ("rolled_back", "promoted", "completed", "aborted")
METRIC_LABELS = {
    "harmful_compliance_rate": "Harmful compliance",
    "pii_leak_rate": "PII leaks",
    "safety_violation_rate": "Safety violations",
    "over_refusal_rate": "Over-refusal",
    "error_rate": "Errors",
}


class ReportError(Exception):
    """The store holds nothing to report for that rollout."""


def decision_of(state: dict[str, Any], events: list[dict[str, Any]]) -> str:
    """The outcome in one word (the demo's `decision` vocabulary)."""
    strategy, phase = state.get("strategy"), state.get("phase")
    kinds = [e["kind"] for e in events]
    if phase == "rolled_back":
        if strategy == "shadow":
            return "shadow_fail"
        if strategy == "blue_green" and "promoted" in kinds:
            return "switched_back"
        return "rolled_back"
    if phase == "completed":
        return {"shadow": "shadow_pass", "ab": "ab_decided"}.get(str(strategy), "completed")
    if phase == "promoted":
        if strategy == "ab":
            return "ab_decided"
        return "switched" if strategy == "blue_green" else "promoted"
    return str(phase)


def build_rollout_report(
    store: Store,
    rollout: str,
    *,
    judgement: dict[str, Any] | None = None,
    buckets: int = 40,
    flagged: int = 6,
    now: float | None = None,
) -> dict[str, Any]:
    """Everything the report shows, as plain JSON-able data."""
    loaded = store.load_state(rollout)
    if loaded is None:
        raise ReportError(f"no rollout named {rollout!r} in the store")
    _, state = loaded
    events = _all_events(store, rollout)
    start = float(state["started_at"])
    candidate = state["candidate"]
    rows = load_rows(store, start)
    stable = _original_stable(state, rows)
    arms = [candidate, *(v for v in (state.get("weights") or {}) if v not in (candidate, stable))]
    decision_event = next((e for e in reversed(events) if e["kind"] in DECISION_KINDS), None)
    decided_at = float(decision_event["created_at"]) if decision_event else None
    end = now if now is not None else time.time()
    if len(rows):
        end = max(float(rows.t[-1]), decided_at or start)
    versions = [stable, *arms]
    judged = _judgement(decision_event, judgement, store, rollout)
    shadow = state.get("strategy") == "shadow"

    edges = bucket_edges(start, end, buckets)
    timeline: dict[str, Any] = {"t": [float(x) for x in edges[1:]], "metrics": {}, "latency": {}}
    for metric, flag in SAFETY_METRICS.items():
        timeline["metrics"][metric] = {
            v: rate_timeline(rows, v, flag, edges, shadow=(v != stable) if shadow else False)
            for v in versions
        }
    for v in versions:
        timeline["latency"][v] = latency_timeline(rows, v, edges)

    at_decision = requests_by_version(rows, until=decided_at)
    canary = at_decision.get(candidate, {"users": 0, "shadow": 0})
    promoted = (
        candidate
        if state.get("phase") == "promoted" or "promoted" in {e["kind"] for e in events}
        else None
    )
    return {
        "rollout": rollout,
        "strategy": state.get("strategy"),
        "stable": stable,
        "candidate": candidate,
        "versions": versions,
        "phase": state.get("phase"),
        "decision": decision_of(state, events),
        "reason": _reason(state, judged),
        "started_at": start,
        "decided_at": decided_at,
        "decided_at_step": None if decision_event is None else _step_of(decision_event),
        "decision_event": decision_event,
        "requests": {v: c["users"] for v, c in requests_by_version(rows).items()},
        "shadow_requests": {
            v: c["shadow"] for v, c in requests_by_version(rows).items() if c["shadow"]
        },
        "canary_requests_at_decision": canary["shadow"] if shadow else canary["users"],
        "metrics": {
            v: final_rates(rows, v, shadow=(v != stable) if shadow else False) for v in versions
        },
        "latency": {
            v: latency_summary(rows, v, shadow=(v != stable) if shadow else False) for v in versions
        },
        "verdicts": (judged or {}).get("verdicts", []),
        "srm": (judged or {}).get("srm"),
        "ab_result": state.get("result"),
        "srm_check": _srm_check(state, rows, stable, decided_at),
        "timeline": timeline,
        "weights": weights_timeline(events, stable=stable, arms=arms, promoted=promoted, end=end),
        "events": [
            {k: e[k] for k in ("id", "created_at", "kind", "actor", "message")} for e in events
        ],
        "flagged": flagged_interactions(store, start, [*arms, stable], flagged),
    }


def rollout_charts(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The charts of a rollout report: weights, each safety metric, latency."""
    markers = []
    for e in report["events"]:
        if e["kind"] in ("promoted", "rolled_back", "completed", "aborted"):
            markers.append({"x": e["created_at"], "label": e["kind"].replace("_", " ")})
    charts = []
    w = report["weights"]
    if w["t"]:
        charts.append(
            chart_spec(
                "Share of user traffic (%)",
                w["t"],
                [{"label": v, "values": w[v]} for v in report["versions"]],
                stepped=True,
                y_label="% of requests",
                markers=markers,
            )
        )
    tl = report["timeline"]
    for metric, per_version in tl["metrics"].items():
        charts.append(
            chart_spec(
                f"{METRIC_LABELS.get(metric, metric)} (cumulative, 95% always-valid band)",
                tl["t"],
                [
                    {"label": v, "values": s["rate"], "lower": s["lower"], "upper": s["upper"]}
                    for v, s in per_version.items()
                ],
                y_percent=True,
                markers=markers,
            )
        )
    if not tl["t"]:
        return charts
    charts.append(
        chart_spec(
            "Mean latency per time bucket (ms)",
            tl["t"],
            [{"label": v, "values": vals} for v, vals in tl["latency"].items()],
            y_label="ms",
            markers=markers,
        )
    )
    return charts


def render_rollout_html(report: dict[str, Any], *, header: dict[str, Any] | None = None) -> str:
    """report.html: self-contained (uPlot inlined), every value escaped."""
    return render(
        "rollout.html.j2",
        report=report,
        header=header or {},
        charts=rollout_charts(report),
        metric_labels=METRIC_LABELS,
        generated_at=time.time(),
    )


def write_rollout_report(
    report: dict[str, Any], out_dir: str | Path, *, header: dict[str, Any] | None = None
) -> tuple[Path, Path]:
    """Write report.json (header keys first, then the rollout) and report.html."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out / "report.json", out / "report.html"
    document = {**(header or {}), "rollout_report": report}
    json_path.write_bytes(
        orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
    )
    html_path.write_text(render_rollout_html(report, header=header), encoding="utf-8")
    return json_path, html_path


def _all_events(store: Store, rollout: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        batch = store.list_events(rollout, after_id=after, limit=500)
        events.extend(batch)
        if len(batch) < 500:
            return events
        after = batch[-1]["id"]


def _srm_check(
    state: dict[str, Any], rows: Any, stable: str, until: float | None
) -> dict[str, Any] | None:
    """A/B: did users split as configured? (The fixed chi-squared p-value is for
    the report; the always-valid one is what froze decisions, if it did.)"""
    if state.get("strategy") != "ab":
        return None
    arms = {v: float(w) for v, w in (state.get("weights") or {}).items() if w > 0}
    if not arms:
        return None
    expected = {stable: max(0.0, 100.0 - sum(arms.values())), **arms}
    counts = requests_by_version(rows, until=until)
    observed = {v: counts.get(v, {"users": 0})["users"] for v in expected}
    if sum(observed.values()) == 0:
        return None
    result: dict[str, Any] = to_jsonable(sample_ratio_mismatch(observed, expected))
    return result


def _original_stable(state: dict[str, Any], rows: Any) -> str:
    """The stable version the rollout started from (a promotion renames stable)."""
    if state["stable"] != state["candidate"]:
        return str(state["stable"])
    if state.get("previous_stable"):
        return str(state["previous_stable"])
    others = sorted({str(v) for v in rows.version} - {state["candidate"]})
    return others[0] if others else str(state["stable"])


def _step_of(event: dict[str, Any]) -> int | None:
    step = (event.get("data") or {}).get("step")
    return None if step is None else int(step) + 1


def _judgement(
    event: dict[str, Any] | None,
    given: dict[str, Any] | None,
    store: Store,
    rollout: str,
) -> dict[str, Any] | None:
    """The judgement behind the decision: the decision event's, else the caller's,
    else the last one the controller published."""
    data = (event or {}).get("data") or {}
    if isinstance(data.get("judgement"), dict):
        return dict(data["judgement"])
    if given is not None:
        return given
    getter = getattr(store, "get_judgement", None)
    return getter(rollout) if getter is not None else None


def _reason(state: dict[str, Any], judged: dict[str, Any] | None) -> dict[str, Any]:
    """The decision's reason in words, plus the numbers of each failing metric."""
    failing = [
        {
            k: v.get(k)
            for k in (
                "metric",
                "candidate",
                "stable",
                "interval",
                "p_value",
                "n_candidate",
                "n_stable",
                "reason",
            )
        }
        for v in (judged or {}).get("verdicts", [])
        if v.get("status") == "FAIL" and not v.get("dry_run")
    ]
    return {"text": state.get("reason", ""), "failing": failing}
