"""`saferollout review`: serve the blinded side-by-side review page for a review set."""

from __future__ import annotations

import click

from ..preflight import review_set_id
from ..preflight._review import list_review_sets
from ..preflight._review_app import ReviewApp, run_review_server
from ..store import Store, StoreError
from ._common import admin_token_or_exit, config_option, fail, load_or_exit, setup_logging


@click.command()
@config_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Bind address")
@click.option("--port", default=8090, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--set",
    "set_id",
    default=None,
    help="Review set id (default: the one preflight built for the current candidate config)",
)
def review(config_path: str, host: str, port: int, set_id: str | None) -> None:
    """Serve the blinded side-by-side human review page."""
    setup_logging()
    cfg = load_or_exit(config_path)
    review_cfg = cfg.preflight.review
    token = admin_token_or_exit(cfg, host, "the review page")
    try:
        store = Store(cfg.storage.url)
    except StoreError as exc:
        fail(f"storage.url: {exc}", code=1)
    try:
        set_id = set_id or review_set_id(cfg)
        sets = list_review_sets(store)
        if not sets.get(set_id):
            ours = [f"{s} ({n} pairs)" for s, n in sets.items() if s.startswith(f"{cfg.name}:")]
            hint = f"; sets of rollout {cfg.name}: " + ", ".join(ours) if ours else ""
            fail(
                f"--set: review set {set_id} has no pairs; run `saferollout preflight -c "
                f"{config_path}` with preflight.review.enabled: true to build it{hint}"
            )
        app = ReviewApp(store, set_id, review_cfg, token=token)
        run_review_server(
            app,
            host,
            port,
            on_ready=lambda url: click.echo(
                f"review page on {url}/ for set {set_id} ({sets[set_id]} pairs)", err=True
            ),
        )
    finally:
        store.close()
