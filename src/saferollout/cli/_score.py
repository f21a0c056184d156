"""`saferollout score-worker` and `saferollout eval-scorers`: thin, they hand off to `safety`."""

from __future__ import annotations

import json
import logging
import signal
import threading
from pathlib import Path

import click

from ._common import config_option, fail, load_or_exit, setup_logging

log = logging.getLogger("saferollout.cli")


@click.command("score-worker")
@config_option
@click.option(
    "--batch-size", type=click.IntRange(1, 10_000), default=None, help="Records per claim"
)
@click.option("--once", is_flag=True, help="Score what is unscored now, then exit")
@click.option("-v", "--verbose", is_flag=True)
def score_worker(config_path: str, batch_size: int | None, once: bool, verbose: bool) -> None:
    """Score recorded interactions in batches until stopped (SIGINT/SIGTERM).

    Run several at once on PostgreSQL to scale scoring apart from the gateway;
    each claims its own records (FOR UPDATE SKIP LOCKED).
    """
    from ..safety import Pipeline, SafetyError, backlog, run_worker
    from ..store import Store, StoreError

    setup_logging(verbose)
    config = load_or_exit(config_path)
    safety = config.safety
    try:
        store = Store(config.storage.url)
    except StoreError as exc:
        fail(f"storage.url: {exc}")
    try:
        # The anomaly baseline: stable in this rollout's state, else the configured stable.
        pipeline = Pipeline.from_config(
            safety, store=store, rollout=config.name, baseline_version=config.stable
        )
    except SafetyError as exc:
        store.close()
        fail(f"safety: {exc}")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    w = safety.worker
    log.info(
        "scoring worker started: scorers %s%s, backlog %d",
        ", ".join(s.name for s in pipeline.scorers) or "none",
        f"; anomalies against the stable version of {config.name!r}" if pipeline.anomaly else "",
        backlog(store),
    )
    try:
        stats = run_worker(
            store,
            pipeline,
            batch_size=batch_size or w.batch_size,
            poll_s=w.poll_s,
            lease_s=w.lease_s,
            stop=stop,
            once=once,
        )
    except StoreError as exc:
        fail(f"storage: {exc}", code=1)
    finally:
        pipeline.close()
    log.info(
        "scoring worker stopped: %d records in %d batches (%d with errors), backlog %d",
        stats.scored,
        stats.batches,
        stats.failed,
        backlog(store),
    )
    store.close()


@click.command("eval-scorers")
@click.option(
    "--scorer", required=True, help="Scorer name: pii, harmful, refusal, prompt_risk, judge"
)
@click.option(
    "--dataset",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Labeled file to measure on",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["moderation", "xstest", "xstest-prompts", "presidio", "jailbreakbench"]),
    default=None,
    help="Dataset format (default: detected from the file)",
)
@click.option(
    "--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Also write the figures as JSON here",
)  # fmt: skip
@click.option("-c", "--config", "config_path", default=None, help="rollout.yaml for thresholds")
@click.option("--limit", type=click.IntRange(1), default=None, help="Measure on the first N items")
def eval_scorers(
    scorer: str,
    dataset: Path,
    fmt: str | None,
    json_out: Path | None,
    config_path: str | None,
    limit: int | None,
) -> None:
    """Measure a scorer on a labeled file: precision, recall, F1, AUROC, AUPRC,
    FPR at 95% TPR and throughput."""
    from ..safety import SCORERS, SafetyError, evaluate

    if scorer not in SCORERS:
        fail(f"--scorer {scorer!r}: unknown; one of {', '.join(sorted(SCORERS))}")
    safety = load_or_exit(config_path).safety if config_path else None
    try:
        report = evaluate(scorer, dataset, fmt, config=safety, limit=limit)
    except SafetyError as exc:
        fail(str(exc))
    click.echo(report.format_table())
    if json_out is not None:
        try:
            json_out.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
        except OSError as exc:
            fail(f"--json {json_out}: {exc}")
