"""The `saferollout` command: parses arguments and hands off to the packages.

Subcommands load lazily (click's documented LazyGroup pattern) so that
`saferollout --help` or `config validate` does not import scipy or aiohttp.
Exit codes: 0 success, 1 a check it ran failed, 2 bad usage or bad input.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

# name -> ("module:attribute" of a click.Command, one-line help). The module is
# imported only when that subcommand runs; --help shows the line from here.
COMMANDS: dict[str, tuple[str, str]] = {
    "config": (
        "saferollout.cli._config:config",
        "Validate rollout.yaml, print its schema or hash.",
    ),
    "serve": (
        "saferollout.cli._serve:serve",
        "Run the gateway in front of the configured versions.",
    ),
    "demo": ("saferollout.cli._demo:demo", "Run a rollout on simulated model servers, end to end."),
    "simulate-backend": (
        "saferollout.cli._simulate:simulate_backend",
        "Run a simulated OpenAI-compatible model server.",
    ),
    "status": ("saferollout.cli._admin:status", "Show the rollout's phase, weights and verdicts."),
    "promote": (
        "saferollout.cli._admin:promote",
        "Advance the rollout a step, or to 100% with --full.",
    ),
    "pause": ("saferollout.cli._admin:pause", "Freeze the rollout at its current weights."),
    "resume": ("saferollout.cli._admin:resume", "Continue a paused rollout."),
    "abort": ("saferollout.cli._admin:abort", "Stop the rollout; the candidate gets no traffic."),
    "rollback": ("saferollout.cli._admin:rollback", "Send all traffic back to stable now."),
    "switch": ("saferollout.cli._admin:switch", "Blue/green: move all traffic to the preview."),
    "drill": (
        "saferollout.cli._drill:drill",
        "Practise a rollback against the configured versions.",
    ),
    "preflight": (
        "saferollout.cli._preflight:preflight",
        "Run the pre-deployment checks on the candidate; write a report and a receipt.",
    ),
    "review": (
        "saferollout.cli._review:review",
        "Serve the blinded side-by-side human review page.",
    ),
    "report": (
        "saferollout.cli._report:report",
        "Write the report of a rollout (running or finished) from the store.",
    ),
    "logs": ("saferollout.cli._logs:logs", "Query, show, summarize and export interactions."),
    "score-worker": ("saferollout.cli._score:score_worker", "Score stored interactions."),
    "eval-scorers": ("saferollout.cli._score:eval_scorers", "Measure a scorer on labeled data."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attr = entry[0].split(":")
        return getattr(importlib.import_module(module_name), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][1]) for name in self.list_commands(ctx)])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="saferollout")
def cli() -> None:
    """saferollout: roll out a new LLM version safely."""


def main(argv: list[str] | None = None) -> Any:
    return cli.main(args=argv, prog_name="saferollout")
