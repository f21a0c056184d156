"""`saferollout serve`: run the gateway."""

from __future__ import annotations

import ipaddress
import os

import click

from ..gateway import UpstreamConfigError, run_gateway
from ..store import Store, StoreError
from ._common import config_option, fail, load_or_exit, setup_logging
from ._runtime import Runtime


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command()
@config_option
@click.option("--host", default=None, help="Bind address (default: server.host)")
@click.option("--port", default=None, type=int, help="Port (default: server.port)")
@click.option(
    "--no-scoring", is_flag=True, help="Do not start a scoring worker (run `score-worker` apart)"
)
@click.option("-v", "--verbose", is_flag=True)
def serve(
    config_path: str, host: str | None, port: int | None, no_scoring: bool, verbose: bool
) -> None:
    """Run the gateway in front of the configured versions."""
    setup_logging(verbose)
    cfg = load_or_exit(config_path)
    host = host or cfg.server.host
    port = cfg.server.port if port is None else port
    admin_token = None
    if cfg.server.admin_token_env:
        admin_token = os.environ.get(cfg.server.admin_token_env)
        if not admin_token:
            env = cfg.server.admin_token_env
            fail(f"server.admin_token_env: environment variable {env} is not set")
    if admin_token is None and not _is_loopback(host):
        fail(
            f"binding to {host} needs an admin token: set server.admin_token_env "
            "(without one, admin routes are only safe on loopback)"
        )
    try:
        store = Store(cfg.storage.url)
    except StoreError as exc:
        fail(f"storage.url: {exc}", code=1)
    try:
        runtime = Runtime.build(cfg, store, admin_token=admin_token)
    except UpstreamConfigError as exc:
        fail(str(exc))
    state = runtime.controller.state
    weights = runtime.gateway.router.table.weights()
    click.echo(
        f"saferollout gateway on http://{host}:{port}: rollout {state.name} {state.phase}, "
        + ", ".join(f"{v} {w:g}%" for v, w in weights.items()),
        err=True,
    )
    runtime.start_background(scoring=not no_scoring)
    try:
        run_gateway(runtime.gateway, host, port)
    finally:
        runtime.stop()
        store.close()
