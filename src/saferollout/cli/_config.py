"""`saferollout config validate|schema|hash`."""

from __future__ import annotations

import json

import click

from ..config import config_hash, config_schema
from ._common import load_or_exit


@click.group()
def config() -> None:
    """Check and describe rollout.yaml."""


@config.command()
@click.argument("file", type=str)
def validate(file: str) -> None:
    """Print OK, or every error with its YAML path and line (exit 2)."""
    load_or_exit(file)
    click.echo("OK")


@config.command()
def schema() -> None:
    """Print the JSON Schema of rollout.yaml."""
    click.echo(json.dumps(config_schema(), indent=2))


@config.command("hash")
@click.argument("file", type=str)
def hash_(file: str) -> None:
    """Print the configuration hash (unchanged by formatting, comments, key order)."""
    click.echo(config_hash(load_or_exit(file)))
