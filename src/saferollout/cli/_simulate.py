"""`saferollout simulate-backend`: a simulated OpenAI-compatible model server.

Prints one line, "simulate-backend: profile=NAME model=NAME listening on URL",
on stdout once it accepts connections (start_backend_process reads it), then
serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import sys

import click

from saferollout.simulation import (
    PROFILES,
    BackendServer,
    BackendSettings,
    BackendStartError,
    run_backend,
)


@click.command("simulate-backend")
@click.option("--port", type=click.IntRange(0, 65535), required=True, help="0 = any free port.")
@click.option(
    "--profile",
    type=click.Choice(sorted(PROFILES)),
    default="stable",
    show_default=True,
    help="Behaviour: refusal, over-refusal, PII, toxicity, error and stall rates.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--latency-ms",
    type=click.FloatRange(min=0),
    default=20.0,
    show_default=True,
    help="Base delay before the first token.",
)
@click.option(
    "--tokens-per-s",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Streaming pace; 0 sends the whole answer at once.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds every decision.")
@click.option("--model", default="sim-model", show_default=True, help="Name in /v1/models.")
@click.option(
    "--jitter",
    type=click.FloatRange(0, 1),
    default=0.1,
    show_default=True,
    help="Relative +/- spread of the latency.",
)
@click.option(
    "--stall-s",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="How long a stalled request hangs.",
)
def simulate_backend(
    port: int,
    profile: str,
    host: str,
    latency_ms: float,
    tokens_per_s: float,
    seed: int,
    model: str,
    jitter: float,
    stall_s: float,
) -> None:
    """Run a simulated OpenAI-compatible model server (for demos, tests, benchmarks)."""
    settings = BackendSettings(
        model=model,
        latency_ms=latency_ms,
        tokens_per_s=tokens_per_s,
        jitter=jitter,
        seed=seed,
        stall_s=stall_s,
    )

    def ready(server: BackendServer) -> None:
        click.echo(f"simulate-backend: profile={profile} model={model} listening on {server.url}")
        sys.stdout.flush()

    try:
        run_backend(profile, host=host, port=port, settings=settings, on_ready=ready)
    except BackendStartError as exc:
        click.echo(f"saferollout simulate-backend: {exc}", err=True)
        sys.exit(2)
