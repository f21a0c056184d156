"""`saferollout status|promote|pause|resume|abort|rollback|switch`: the admin API client.

Plain urllib: one request per command, no need for a pooled async client.
The token comes from the environment (SAFEROLLOUT_ADMIN_TOKEN, or the
variable named by --token-env), never from the command line where `ps`
would show it.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from ._common import fail

server_option = click.option(
    "--server",
    default=lambda: os.environ.get("SAFEROLLOUT_SERVER", "http://127.0.0.1:8080"),
    show_default="$SAFEROLLOUT_SERVER or http://127.0.0.1:8080",
    help="Base URL of a saferollout gateway",
)
token_option = click.option(
    "--token-env",
    default="SAFEROLLOUT_ADMIN_TOKEN",
    show_default=True,
    help="Environment variable holding the admin token",
)


def call(
    server: str, token_env: str, method: str, path: str, body: dict[str, Any] | None = None
) -> Any:
    headers = {"Content-Type": "application/json", "X-Actor": os.environ.get("USER", "cli")}
    token = os.environ.get(token_env)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        server.rstrip("/") + path, data=data, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read())["error"]["message"]
        except Exception:
            message = exc.reason
        fail(f"{method} {path}: {exc.code} {message}", code=2 if exc.code < 500 else 1)
    except (urllib.error.URLError, OSError) as exc:
        fail(f"cannot reach {server}: {getattr(exc, 'reason', exc)}", code=1)


def render(snapshot: dict[str, Any], console: Console) -> None:
    r = snapshot["rollout"]
    steps = len(snapshot.get("steps") or [])
    console.print(
        f"[bold]{r['name']}[/] ({r['strategy']}): [bold]{r['phase']}[/]"
        + (
            f", step {r['step_index'] + 1}/{steps}"
            if steps and r["phase"] in ("progressing", "paused")
            else ""
        )
        + (f" - {r['reason']}" if r.get("reason") else "")
    )
    weights = ", ".join(f"{v} {w:g}%" for v, w in snapshot["weights"].items())
    console.print(f"stable {r['stable']}, candidate {r['candidate']}; traffic: {weights}")
    judgement = snapshot.get("judgement")
    if not judgement:
        return
    table = Table(title=f"analysis: {judgement['decision']}")
    for col in ("metric", "status", "candidate", "stable", "diff interval", "n (cand/stable)"):
        table.add_column(col)
    for v in judgement["verdicts"]:
        interval = v.get("interval")
        table.add_row(
            v["metric"] + (" (dry run)" if v.get("dry_run") else ""),
            v["status"],
            _num(v.get("candidate")),
            _num(v.get("stable")),
            f"[{_num(interval[0])}, {_num(interval[1])}]" if interval else "-",
            f"{v.get('n_candidate', 0)}/{v.get('n_stable', 0)}",
        )
    console.print(table)


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


@click.command()
@server_option
@token_option
@click.option("--watch", is_flag=True, help="Refresh every 2 s until interrupted")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON")
def status(server: str, token_env: str, watch: bool, as_json: bool) -> None:
    """Show the rollout's phase, weights and verdicts."""
    console = Console()
    while True:
        snapshot = call(server, token_env, "GET", "/admin/rollout")
        if as_json:
            click.echo(json.dumps(snapshot, indent=2))
        else:
            if watch:
                console.clear()
            render(snapshot, console)
        if not watch:
            return
        time.sleep(2)


def _action_command(action: str, help_text: str, with_full: bool = False) -> click.Command:
    @click.command(name=action, help=help_text)
    @server_option
    @token_option
    @click.option("--reason", default="", help="Why, for the audit log")
    def command(server: str, token_env: str, reason: str, full: bool = False) -> None:
        body: dict[str, Any] = {"reason": reason}
        if full:
            body["full"] = True
        snapshot = call(server, token_env, "POST", f"/admin/rollout/{action}", body)
        render(snapshot, Console())

    if with_full:
        command = click.option("--full", is_flag=True, help="Skip the remaining steps")(command)
    return command


promote = _action_command("promote", "Advance to the next step (or, with --full, to 100%).", True)
pause = _action_command("pause", "Freeze the rollout at its current weights.")
resume = _action_command("resume", "Continue a paused rollout.")
abort = _action_command("abort", "Stop the rollout: the candidate gets no more traffic.")
rollback = _action_command("rollback", "Send all traffic back to stable now.")
switch = _action_command("switch", "Blue/green: move all traffic to the preview at once.")
