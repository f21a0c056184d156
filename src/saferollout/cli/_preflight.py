"""`saferollout preflight`: the pre-deployment checks, a report, and a receipt.

Exit 0 when every check passed (a passed receipt is stored), 1 when a check
failed (a failed receipt is stored, so the gate can say why), 2 on bad input.
Relative paths in the `preflight:` section are resolved against the directory
of rollout.yaml; paths given on the command line against the working directory.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..preflight import PreflightError, PreflightOptions, run_preflight, save_receipt
from ..report._preflight import write_preflight_report
from ..store import Store, StoreError
from ._common import config_option, fail, load_or_exit


def _against(base: Path, path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else base / p


@click.command()
@config_option
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default="preflight-report",
    show_default=True,
    help="Directory for report.json and report.html",
)
@click.option(
    "--suite",
    "suites",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Suite JSONL file (repeatable); default: preflight.suites or the shipped suites",
)
@click.option("--findings", type=click.Path(dir_okay=False), default=None, help="Findings JSONL")
@click.option("--no-stable", is_flag=True, help="Do not send the suites to stable")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="First N items per suite")
def preflight(
    config_path: str,
    out: str,
    suites: tuple[str, ...],
    findings: str | None,
    no_stable: bool,
    limit: int | None,
) -> None:
    """Run the pre-deployment checks on the candidate; write a report and a receipt."""
    cfg = load_or_exit(config_path)
    if Path(out).exists() and not Path(out).is_dir():
        fail(f"--out {out}: exists and is not a directory")
    base = Path(config_path).resolve().parent
    if not suites and cfg.preflight.suites:
        suites = tuple(str(_against(base, s)) for s in cfg.preflight.suites)
    if findings is None and cfg.preflight.findings:
        findings = str(_against(base, cfg.preflight.findings))
    options = PreflightOptions(
        suites=[Path(s) for s in suites] or None,
        findings=Path(findings) if findings else None,
        compare_stable=False if no_stable else None,
        limit=limit,
        config_text=Path(config_path).read_text(encoding="utf-8"),
    )
    try:
        store = Store(cfg.storage.url)
    except StoreError as exc:
        fail(f"storage.url: {exc}", code=1)
    try:
        try:
            result = run_preflight(cfg, store, options)
        except PreflightError as exc:
            fail(str(exc))
        report = result.to_dict()
        receipt_id = save_receipt(store, cfg, result)
        report["receipt_id"] = receipt_id
        json_path, html_path = write_preflight_report(report, out)
    finally:
        store.close()
    for check in result.checks:
        mark = "ok  " if check.ok else "FAIL"
        click.echo(f"{mark} {check.name}: {check.found}")
        if not check.ok and check.fix:
            click.echo(f"     fix: {check.fix}")
    verdict = "PASSED" if result.passed else "FAILED"
    click.echo(
        f"preflight {verdict} for {cfg.candidate} (config {report['version_hash'][:12]}); "
        f"receipt {receipt_id}; report {html_path} and {json_path}"
    )
    raise SystemExit(0 if result.passed else 1)
