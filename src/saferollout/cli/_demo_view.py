"""What `saferollout demo` shows while it runs, and the loopback alert receiver.

`DemoView` polls the controller and the store on its own thread: a rich Live
panel (step, weights, requests per version, key metrics with intervals, recent
events) on a terminal, plain log lines otherwise (CI logs, pipes).
`AlertReceiver` is a tiny aiohttp server standing in for a team's webhook, so
the demo can show that an alert really left the process.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..analysis import Proportion, proportion_confidence_sequence
from ..rollout import Controller
from ..simulation._runner import new_event_loop
from ..store import Store

_EVENT_STYLE = {
    "rolled_back": "bold red",
    "promoted": "bold green",
    "completed": "bold green",
    "step_advanced": "cyan",
    "trigger_alert": "yellow",
    "step_holding": "dim",
}
_KEY_METRICS = (
    ("harmful_compliance", "harmful"),
    ("pii_leak", "PII"),
    ("over_refusal", "over-ref."),
)


class DemoView:
    """Live status of a running scenario; `note` adds a line to the log."""

    def __init__(self, console: Console, store: Store, rollout: str, *, live: bool | None = None):
        self.console = console
        self.store = store
        self.rollout = rollout
        self.live_mode = console.is_terminal if live is None else live
        self.controller: Controller | None = None
        self.stage = "starting"
        self.sent: Callable[[], int] = lambda: 0
        self._after_event = 0
        self._events: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._live: Live | None = None
        self._last_plain = 0.0

    def start(self) -> DemoView:
        if self.live_mode:
            self._live = Live(console=self.console, refresh_per_second=4, transient=False)
            self._live.start()
        self._thread = threading.Thread(target=self._run, name="demo-view", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._poll_events()
        if self._live is not None:
            self._live.update(self._render())
            self._live.stop()

    def note(self, message: str) -> None:
        """A line in the log above the live panel (or a plain line)."""
        self.console.print(message, highlight=False)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self._poll_events()
                if self._live is not None:
                    self._live.update(self._render())
                elif time.monotonic() - self._last_plain >= 5:
                    self._last_plain = time.monotonic()
                    self.console.print(self._plain_status(), highlight=False, markup=False)
            except Exception as exc:  # a view must never stop the demo
                self.console.print(f"(view: {type(exc).__name__}: {exc})")

    def _poll_events(self) -> None:
        for e in self.store.list_events(self.rollout, after_id=self._after_event):
            self._after_event = e["id"]
            style = _EVENT_STYLE.get(e["kind"], "white")
            line = f"[{style}]{e['kind']:>16}[/]  {e['message']}"
            self._events.append(line)
            self.console.print(line, highlight=False)

    def _snapshot(self) -> dict[str, Any]:
        return {} if self.controller is None else self.controller.snapshot()

    def _plain_status(self) -> str:
        snap = self._snapshot()
        state = snap.get("rollout", {})
        weights = ", ".join(f"{v} {w:g}%" for v, w in snap.get("weights", {}).items())
        return (
            f"[{self.stage}] phase {state.get('phase', '-')}, "
            f"step {state.get('step_index', 0) + 1}, "
            f"weights {weights or '-'}; sent {self.sent()}"
        )

    def _render(self) -> Group:
        snap = self._snapshot()
        state = snap.get("rollout", {})
        head = Text.from_markup(
            f"[bold]{self.stage}[/]  phase [bold]{state.get('phase', '-')}[/]  "
            f"step {state.get('step_index', 0) + 1}/{max(len(snap.get('steps', [])), 1)}  "
            f"sent {self.sent()}"
        )
        table = Table(expand=False)
        table.add_column("version")
        table.add_column("weight", justify="right")
        table.add_column("requests", justify="right")
        for _, label in _KEY_METRICS:
            table.add_column(label + " (95% AV)", justify="right")
        since = float(state.get("started_at") or 0.0)
        aggs = self.store.aggregate_versions(since=since) if since else {}
        weights = snap.get("weights", {})
        for version in sorted(set(weights) | set(aggs)):
            agg = aggs.get(version)
            cells = [version, f"{weights.get(version, 0):g}%", str(agg.requests if agg else 0)]
            for flag, _ in _KEY_METRICS:
                cells.append(_rate_cell(agg.flags.get(flag, 0), agg.scored) if agg else "-")
            table.add_row(*cells)
        return Group(head, table)


def _rate_cell(events: int, trials: int) -> str:
    if trials == 0:
        return "-"
    iv = proportion_confidence_sequence(Proportion(trials, events))
    return f"{events / trials:.1%} [{iv.lower:.1%}, {iv.upper:.1%}]"


class AlertReceiver:
    """A loopback webhook that records every alert it receives."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self._loop = new_event_loop()
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._thread = threading.Thread(target=self._run, name="demo-alerts", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/alerts"

    def start(self) -> AlertReceiver:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the demo's alert receiver did not start")
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

    async def _handle(self, request: web.Request) -> web.Response:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return web.json_response({"error": "not JSON"}, status=400)
        self.received.append({"received_at": time.time(), "body": body})
        return web.json_response({"ok": True})

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/alerts", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

    def alerts(self) -> list[dict[str, Any]]:
        """What arrived, summarised for the report (kind, summary, time)."""
        out = []
        for item in list(self.received):
            body = item["body"]
            entries = body if isinstance(body, list) else [body]
            for b in entries:
                if not isinstance(b, dict):
                    continue
                out.append(
                    {
                        "received_at": item["received_at"],
                        "kind": str(b.get("kind") or b.get("alertname") or "alert"),
                        "summary": str(b.get("summary") or b.get("text") or "")[:500],
                    }
                )
        return out
