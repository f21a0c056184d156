"""Helpers shared by the CLI commands: loading config with exit code 2 on bad input."""

from __future__ import annotations

import ipaddress
import logging
import os
import sys
from typing import NoReturn

import click

from ..config import ConfigError, RolloutConfig, load_config


def fail(message: str, code: int = 2) -> NoReturn:
    """One clear line on stderr, then exit (2 bad input, 1 a failed check)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def admin_token_or_exit(cfg: RolloutConfig, host: str, what: str) -> str | None:
    """The admin token from `server.admin_token_env`; exit 2 if that variable is
    unset, or if there is no token and `host` is not loopback (`what` would be
    open to anyone who can reach it)."""
    token = None
    if cfg.server.admin_token_env:
        token = os.environ.get(cfg.server.admin_token_env)
        if not token:
            env = cfg.server.admin_token_env
            fail(f"server.admin_token_env: environment variable {env} is not set")
    if token is None and not is_loopback(host):
        fail(
            f"binding to {host} needs an admin token: set server.admin_token_env "
            f"(without one, {what} is only safe on loopback)"
        )
    return token


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
