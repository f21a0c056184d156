"""Alert payloads per sink type: our JSON webhook, Slack, Alertmanager.

Pure functions from an `Alert` to (path suffix, JSON body); no I/O. One
function per sink type, registered in `FORMATS` (a new sink type is one
function and one entry).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._alert_model import Alert, MetricDetail, iso

WEBHOOK_SCHEMA = "saferollout.alert/v1"


def webhook_payload(alert: Alert, *, now: float, expires_s: float) -> dict[str, Any]:
    """Our own JSON document: everything the alert knows, times in RFC 3339 too."""
    body = alert.to_dict()
    body["schema"] = WEBHOOK_SCHEMA
    body["sent_at"] = iso(now)
    return body


_SEVERITY_MARK = {
    "info": ":information_source:",
    "warning": ":warning:",
    "critical": ":rotating_light:",
}


def _slack_escape(text: str) -> str:
    """Slack mrkdwn treats &, < and > as control characters (links, mentions)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _metric_line(m: MetricDetail) -> str:
    status = f" *{m.status}*" if m.status else ""
    return f"•{status} {_slack_escape(m.describe())}"


def slack_payload(alert: Alert, *, now: float, expires_s: float) -> dict[str, Any]:
    """A Slack incoming-webhook message: `text` (the notification) plus Block Kit."""
    resolved = alert.status == "resolved"
    mark = ":white_check_mark:" if resolved else _SEVERITY_MARK.get(alert.severity, "")
    state = "RESOLVED" if resolved else alert.severity.upper()
    title = f"{mark} [{state}] {alert.summary}"
    if alert.reminder:
        title += " (still firing)"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _slack_escape(title)}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*Rollout*\n{_slack_escape(alert.rollout)}"},
                {"type": "mrkdwn", "text": f"*Kind*\n{alert.kind}"},
                {
                    "type": "mrkdwn",
                    "text": f"*Phase / step*\n{alert.phase} / "
                    + ("-" if alert.step is None else str(alert.step + 1)),
                },
                {
                    "type": "mrkdwn",
                    "text": "*Weights*\n"
                    + _slack_escape(
                        ", ".join(f"{v} {w:g}%" for v, w in alert.weights.items()) or "-"
                    ),
                },
            ],
        },
    ]
    if alert.metrics:
        lines = "\n".join(_metric_line(m) for m in alert.metrics)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": lines[:2900]}})
    if alert.description:
        text = _slack_escape(alert.description)[:2900]
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": text}]})
    if alert.dashboard_url:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open dashboard"},
                        "url": alert.dashboard_url,
                    }
                ],
            }
        )
    return {"text": _slack_escape(title), "blocks": blocks}


def alertmanager_payload(alert: Alert, *, now: float, expires_s: float) -> list[dict[str, Any]]:
    """POST /api/v2/alerts body: a list of one alert.

    A firing alert carries an `endsAt` `expires_s` ahead (the dispatcher re-sends
    a condition that still fires before then, as Prometheus does), so it clears
    by itself if saferollout goes away; a resolved one ends now.
    """
    description = alert.description
    if alert.metrics:
        description += "\n" + "\n".join(m.describe() for m in alert.metrics)
    annotations = {"summary": alert.summary, "description": description}
    if alert.dashboard_url:
        annotations["dashboard"] = alert.dashboard_url
    item: dict[str, Any] = {
        "labels": alert.labels,
        "annotations": annotations,
        "startsAt": iso(alert.time),
        "endsAt": iso(now if alert.status == "resolved" else now + expires_s),
    }
    if alert.dashboard_url:
        item["generatorURL"] = alert.dashboard_url
    return [item]


PayloadFormat = Callable[..., Any]
FORMATS: dict[str, PayloadFormat] = {
    "webhook": webhook_payload,
    "slack": slack_payload,
    "alertmanager": alertmanager_payload,
}


def endpoint(sink_type: str, url: str) -> str:
    """Where a sink's payload goes: Alertmanager's v2 API under its base URL."""
    if sink_type == "alertmanager" and not url.endswith("/api/v2/alerts"):
        return url.rstrip("/") + "/api/v2/alerts"
    return url
