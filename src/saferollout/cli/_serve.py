"""`saferollout serve`: run the gateway."""

from __future__ import annotations

import ipaddress
import logging
import os

import click

from ..gateway import Gateway, UpstreamConfigError, run_gateway
from ..store import Store, StoreError
from ._common import config_option, fail, load_or_exit, setup_logging

log = logging.getLogger("saferollout.serve")


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
@click.option("-v", "--verbose", is_flag=True)
def serve(config_path: str, host: str | None, port: int | None, verbose: bool) -> None:
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
        log.warning("no admin token configured: admin features stay off on non-loopback %s", host)
    try:
        store = Store(cfg.storage.url)
    except StoreError as exc:
        fail(f"storage.url: {exc}", code=1)
    try:
        gateway = Gateway(cfg, store, admin_token=admin_token)
    except UpstreamConfigError as exc:
        fail(str(exc))
    weights = gateway.router.table.weights()
    click.echo(
        f"saferollout gateway on http://{host}:{port} "
        f"(stable {cfg.stable} {weights[cfg.stable]:g}%, candidate {cfg.candidate} "
        f"{weights.get(cfg.candidate, 0):g}%)",
        err=True,
    )
    run_gateway(gateway, host, port)
    store.close()
