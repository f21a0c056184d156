"""Helpers shared by the CLI commands: loading config with exit code 2 on bad input."""

from __future__ import annotations

import logging
import sys
from typing import NoReturn

import click

from ..config import ConfigError, RolloutConfig, load_config


def fail(message: str, code: int = 2) -> NoReturn:
    """One clear line on stderr, then exit (2 bad input, 1 a failed check)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def load_or_exit(path: str) -> RolloutConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        for issue in exc.issues:
            click.echo(f"{exc.source}: {issue}", err=True)
        sys.exit(2)


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


config_option = click.option(
    "-c", "--config", "config_path", required=True, type=str, help="Path to rollout.yaml"
)
