"""`saferollout serve`: run the gateway."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from pathlib import Path

import click

from ..config import RolloutConfig
from ..gateway import ClientKeys, ClientKeysError, UpstreamConfigError, run_gateway
from ..monitoring import AlertsError
from ..preflight import check_gate
from ..store import Store, StoreError
from ._common import admin_token_or_exit, config_option, fail, load_or_exit, setup_logging
from ._report import DEFAULT_REPORT_DIR
from ._runtime import Runtime


@click.command()
@config_option
@click.option("--host", default=None, help="Bind address (default: server.host)")
@click.option("--port", default=None, type=int, help="Port (default: server.port)")
@click.option(
    "--no-scoring", is_flag=True, help="Do not start a scoring worker (run `score-worker` apart)"
)
@click.option(
    "--force-without-preflight",
    is_flag=True,
    help="Start without a passed preflight receipt for the candidate (recorded in the audit log)",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Gateway processes on this host, sharing the port (needs PostgreSQL storage)",
)
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_REPORT_DIR,
    show_default=True,
    help="Where the report of each decision goes (<rollout>-<decision>-<UTC time>/)",
)
@click.option("--no-report", is_flag=True, help="Write no report when the rollout decides")
@click.option("-v", "--verbose", is_flag=True)
def serve(
    config_path: str,
    host: str | None,
    port: int | None,
    no_scoring: bool,
    force_without_preflight: bool,
    workers: int,
    report_dir: Path,
    no_report: bool,
    verbose: bool,
) -> None:
    """Run the gateway in front of the configured versions."""
    setup_logging(verbose)
    reports = None if no_report else report_dir.resolve()
    cfg = load_or_exit(config_path)
    host = host or cfg.server.host
    port = cfg.server.port if port is None else port
    admin_token = admin_token_or_exit(cfg, host, "the admin API")
    try:
        store = Store(cfg.storage.url)
    except StoreError as exc:
        fail(f"storage.url: {exc}", code=1)
    if workers > 1 and port == 0:
        store.close()
        fail(f"--workers {workers} needs a fixed --port (0 would give each worker its own)")
    if workers > 1 and store.is_sqlite:
        store.close()
        fail(
            f"--workers {workers}: SQLite storage takes one gateway process; "
            "use a postgresql:// storage.url to run several"
        )
    # Bad input first: a start refused for a missing key must not record a forced start.
    for name, vc in cfg.versions.items():
        if vc.api_key_env and not os.environ.get(vc.api_key_env):
            store.close()
            fail(f"versions.{name}.api_key_env: environment variable {vc.api_key_env} is not set")
    if cfg.clients is not None:
        try:
            ClientKeys.from_config(cfg.clients, admin_token=admin_token)
        except ClientKeysError as exc:
            store.close()
            fail(str(exc))
    gate = check_gate(cfg, store, force=force_without_preflight, actor="cli")
    if not gate.allowed:
        store.close()
        fail(gate.message)
    click.echo(gate.message, err=True)
    if workers > 1:
        store.close()
        sys.exit(
            run_workers(
                config_path, host, port, workers, scoring=not no_scoring, report_dir=reports
            )
        )
    serve_one(
        cfg, store, host, port, admin_token=admin_token, scoring=not no_scoring, report_dir=reports
    )


def serve_one(
    cfg: RolloutConfig,
    store: Store,
    host: str,
    port: int,
    *,
    admin_token: str | None,
    scoring: bool,
    reuse_port: bool = False,
    report_dir: Path | None = None,
) -> None:
    """One gateway process: gateway + controller replica (+ scoring workers, and the
    report of each decision into `report_dir` while this replica leads)."""
    try:
        runtime = Runtime.build(cfg, store, admin_token=admin_token)
    except UpstreamConfigError as exc:
        store.close()
        fail(str(exc))
    state = runtime.controller.state
    weights = runtime.gateway.router.table.weights()
    click.echo(
        f"saferollout gateway on http://{host}:{port} (pid {os.getpid()}): rollout {state.name} "
        f"{state.phase}, " + ", ".join(f"{v} {w:g}%" for v, w in weights.items()),
        err=True,
    )
    try:
        local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        runtime.start_background(
            scoring=scoring, url=f"http://{local}:{port}", report_dir=report_dir
        )
    except AlertsError as exc:
        store.close()
        fail(str(exc))
    try:
        run_gateway(runtime.gateway, host, port, reuse_port=reuse_port)
    finally:
        runtime.stop()
        store.close()


def run_workers(
    config_path: str,
    host: str,
    port: int,
    workers: int,
    *,
    scoring: bool,
    report_dir: Path | None = None,
) -> int:
    """`--workers N`: N replicas on one port (SO_REUSEPORT), coordinated through
    PostgreSQL exactly as replicas on separate hosts are (lease, state, commands).

    The parent only supervises: SIGTERM/SIGINT are passed on so every worker
    drains its requests and flushes its records; the exit code is the worst
    of theirs. The first worker runs the scoring workers.
    """
    ctx = multiprocessing.get_context("spawn")
    children = [
        ctx.Process(
            target=_worker_main,
            args=(config_path, host, port, scoring and i == 0, report_dir),
            name=f"gateway-{i}",
        )
        for i in range(workers)
    ]
    for child in children:
        child.start()

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.pid is not None and child.is_alive():
                os.kill(child.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for child in children:
        child.join()
    return max(child.exitcode or 0 for child in children)


def _worker_main(
    config_path: str, host: str, port: int, scoring: bool, report_dir: Path | None
) -> None:
    """A worker of `run_workers`: the parent checked the config, the token and the gate."""
    # A stop that comes while starting (nothing served yet) is a clean exit; once
    # serving, the gateway's own handler drains and flushes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    setup_logging(False)
    cfg = load_or_exit(config_path)
    env = cfg.server.admin_token_env
    admin_token = os.environ.get(env) if env else None
    serve_one(
        cfg,
        Store(cfg.storage.url),
        host,
        port,
        admin_token=admin_token,
        scoring=scoring,
        reuse_port=True,
        report_dir=report_dir,
    )
