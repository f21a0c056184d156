"""`saferollout logs`: query, show, export and summarize stored interactions.

Thin: parses options into a `LogFilter` and hands off to `monitoring`. Text
is masked per `logging.redact` of the config (or `--redact`; `pii` when
only `--storage` is given). Tables on a terminal, tab-separated lines
otherwise, JSON with `--json`. Exit 2 on a bad filter, a bad storage URL or
an unknown request id.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import click
import orjson
import sqlalchemy as sa

from ..monitoring import (
    FINDING_FLAGS,
    PROBLEM_FLAGS,
    LogFilter,
    LogQueryError,
    Presenter,
    ScoreFilter,
    check_finding_flags,
    findings_from,
    get_interaction,
    iso,
    iter_interactions,
    merge_findings,
    parse_time,
    sessions_exposed,
    summarize,
    write_csv,
    write_jsonl,
)
from ..store import Store, StoreError, redact_url, schema
from ._common import fail, load_or_exit


@click.group()
def logs() -> None:
    """Query, show, summarize and export stored interactions.

    Every subcommand reads the store named by -c rollout.yaml (storage.url)
    or by --storage URL. Times: 15m, 2h, 7d (ago), ISO 8601, or epoch seconds.
    """


# -- shared options -------------------------------------------------------------


def _source(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option(
        "--redact",
        type=click.Choice(["none", "pii", "drop"]),
        default=None,
        help="Mask texts: default logging.redact of the config, or pii with --storage.",
    )(fn)
    fn = click.option("--storage", "storage_url", help="Storage URL (instead of -c).")(fn)
    fn = click.option("-c", "--config", "config_path", help="Path to rollout.yaml.")(fn)
    return fn


def _filters(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--version", "versions", multiple=True, help="Version (repeatable)."),
        click.option("--since", help="From this time (15m, 2h, ISO 8601, epoch)."),
        click.option("--until", help="Before this time."),
        click.option("--flag", "flags", multiple=True, help="Any of these flags (repeatable)."),
        click.option(
            "--flagged", is_flag=True, help="Any problem flag: " + ", ".join(PROBLEM_FLAGS)
        ),
        click.option(
            "--category", "categories", multiple=True, help="Evidence category (repeatable)."
        ),
        click.option(
            "--score", "scores", multiple=True, help="Score condition, e.g. harmful>=0.8."
        ),
        click.option("--session", help="Conversation id (X-Session-Id)."),
        click.option(
            "--shadow/--no-shadow", default=None, help="Only / no mirrored (shadow) calls."
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _build_filter(opts: dict[str, Any]) -> LogFilter:
    flags = tuple(opts.pop("flags"))
    if opts.pop("flagged"):
        flags = tuple(dict.fromkeys((*flags, *PROBLEM_FLAGS)))
    since, until = opts.pop("since"), opts.pop("until")
    return LogFilter(
        versions=tuple(opts.pop("versions")),
        since=None if since is None else parse_time(since, option="--since"),
        until=None if until is None else parse_time(until, option="--until"),
        flags=flags,
        categories=tuple(opts.pop("categories")),
        scores=tuple(ScoreFilter.parse(s) for s in opts.pop("scores")),
        session=opts.pop("session"),
        shadow=opts.pop("shadow"),
    )


class _Source:
    def __init__(self, store: Store, presenter: Presenter, rollout: str | None) -> None:
        self.store, self.presenter, self.rollout = store, presenter, rollout


@contextmanager
def _open(
    config_path: str | None, storage_url: str | None, redact: str | None
) -> Iterator[_Source]:
    if (config_path is None) == (storage_url is None):
        fail("give exactly one of -c rollout.yaml or --storage URL")
    rollout = None
    if config_path is not None:
        config = load_or_exit(config_path)
        url = config.storage.url
        redact = redact or config.logging.redact
        rollout = config.name
    else:
        assert storage_url is not None
        url = storage_url
        redact = redact or "pii"
    shown = redact_url(url)
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        path = Path(url.removeprefix("sqlite:///"))
        if not path.exists():
            fail(f"storage {shown}: no database file at {path}")
    try:
        store = Store(url, create=False)
    except StoreError as exc:
        fail(f"storage {shown}: {exc}")
    try:
        with store.engine.connect() as conn:
            if not sa.inspect(conn).has_table(schema.interactions.name):
                fail(f"storage {shown}: no saferollout interactions table")
        yield _Source(store, Presenter(redact), rollout)
    except (StoreError, sa.exc.OperationalError) as exc:
        message = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        fail(f"storage {shown}: {message}")
    finally:
        store.close()


def _command(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn query errors into exit 2 with the message."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LogQueryError as exc:
            fail(str(exc))

    return wrapper


def _tty() -> bool:
    return sys.stdout.isatty()


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """A rich table on a terminal; tab-separated lines (header first) otherwise."""
    if _tty():
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table(title=Text(title))
        for col in columns:
            table.add_column(col, overflow="fold")
        for row in rows:
            # Text, not markup: a model's "[bold]" or "[/x]" is shown as written.
            table.add_row(*(Text("" if v is None else str(v)) for v in row))
        Console().print(table)
        return
    click.echo("\t".join(columns))
    for row in rows:
        click.echo("\t".join("" if v is None else _one_line(str(v)) for v in row))


def _one_line(text: str, width: int | None = None) -> str:
    text = " ".join(text.split())
    return text if width is None or len(text) <= width else text[: width - 1] + "…"


# -- list ---------------------------------------------------------------------------


@logs.command("list")
@_source
@_filters
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@_command
def list_(
    config_path: str | None,
    storage_url: str | None,
    redact: str | None,
    limit: int,
    as_json: bool,
    **opts: Any,
) -> None:
    """List matching interactions, newest first."""
    flt = _build_filter(opts)
    with _open(config_path, storage_url, redact) as src:
        views = [src.presenter.view(r) for r in iter_interactions(src.store, flt, limit=limit)]
    if as_json:
        write_jsonl(views, sys.stdout)
        return
    rows = [
        [
            v["time"],
            v["request_id"],
            v["version"],
            v["status_code"],
            ",".join(v["flags"]),
            ",".join(v["categories"]),
            _one_line(v["prompt"] or "", 60),
        ]
        for v in views
    ]
    _table(
        f"{len(views)} interactions",
        ["time", "request_id", "version", "status", "flags", "categories", "prompt"],
        rows,
    )


# -- show -----------------------------------------------------------------------------


@logs.command()
@click.argument("request_id")
@_source
@click.option("--json", "as_json", is_flag=True)
@_command
def show(
    request_id: str,
    config_path: str | None,
    storage_url: str | None,
    redact: str | None,
    as_json: bool,
) -> None:
    """One interaction with its scores, evidence and feedback."""
    with _open(config_path, storage_url, redact) as src:
        row = get_interaction(src.store, request_id)
        if row is None:
            fail(f"no interaction with request id {request_id!r} in {redact_url(src.store.url)}")
        view = src.presenter.view(row)
        view["feedback"] = _feedback_of(src, request_id)
    if as_json or not _tty():
        click.echo(orjson.dumps(view, option=orjson.OPT_INDENT_2).decode())
        return
    from rich.console import Console
    from rich.pretty import Pretty
    from rich.table import Table
    from rich.text import Text

    console = Console()
    head = Table(show_header=False, title=Text(f"interaction {request_id}"))
    for key in (
        "time",
        "version",
        "endpoint",
        "status_code",
        "latency_ms",
        "ttft_ms",
        "session_id",
        "error_kind",
        "retried_from",
        "rollout_step",
        "shadow",
    ):
        head.add_row(key, Text("" if view[key] is None else str(view[key])))
    head.add_row("flags", Text(", ".join(view["flags"]) or "-"))
    head.add_row("categories", Text(", ".join(view["categories"]) or "-"))
    console.print(head)
    for m in view["messages"] or []:
        console.print(Text(f"[{m.get('role')}] ", style="bold"), Text(str(m.get("content"))))
    console.print(Text("[response] ", style="bold"), Text(view["response"] or ""))
    console.print("scores:", Pretty(view["scores"]))
    console.print("evidence:", Pretty(view["evidence"]))
    if view["feedback"]:
        console.print("feedback:", Pretty(view["feedback"]))


def _feedback_of(src: _Source, request_id: str) -> list[dict[str, Any]]:
    f = schema.feedback.c
    query = sa.select(schema.feedback).where(f.request_id == request_id).order_by(f.id)
    with src.store.engine.connect() as conn:
        rows = conn.execute(query).all()
    out = []
    for r in rows:
        data = orjson.loads(r.data_json) if r.data_json else {}
        if "comment" in data:
            data["comment"] = src.presenter.text(data["comment"])
        out.append(
            {"time": iso(r.created_at), "kind": r.kind, "negative": bool(r.negative), **data}
        )
    return out


# -- export -----------------------------------------------------------------------------


@logs.command()
@_source
@_filters
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True
)
@click.option(
    "--out", type=click.Path(dir_okay=False, writable=True), help="File (default stdout)."
)
@click.option("--limit", type=click.IntRange(1), default=None, help="At most N (default all).")
@_command
def export(
    config_path: str | None,
    storage_url: str | None,
    redact: str | None,
    fmt: str,
    out: str | None,
    limit: int | None,
    **opts: Any,
) -> None:
    """Export matching interactions as JSONL or CSV, oldest first."""
    flt = _build_filter(opts)
    with _open(config_path, storage_url, redact) as src:
        views = (
            src.presenter.view(r)
            for r in iter_interactions(src.store, flt, limit=limit, newest_first=False)
        )
        with _output(out) as fh:
            n = (write_csv if fmt == "csv" else write_jsonl)(views, fh)
    if out is not None:
        click.echo(f"wrote {n} interactions to {out}", err=True)


@contextmanager
def _output(path: str | None) -> Iterator[IO[str]]:
    if path is None:
        yield sys.stdout
        return
    try:
        fh = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as exc:
        fail(f"--out {path}: {exc.strerror}")
    with fh:
        yield fh


# -- summary -----------------------------------------------------------------------------


@logs.command()
@_source
@_filters
@click.option("--top", default=5, show_default=True, type=click.IntRange(1, 100))
@click.option("--json", "as_json", is_flag=True)
@_command
def summary(
    config_path: str | None,
    storage_url: str | None,
    redact: str | None,
    top: int,
    as_json: bool,
    **opts: Any,
) -> None:
    """Top flagged patterns per version: flags, categories, repeated prompts."""
    flt = _build_filter(opts)
    with _open(config_path, storage_url, redact) as src:
        result = summarize(src.store, flt, present=src.presenter.view, top=top)
    if as_json:
        click.echo(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
        return
    for version, s in result["versions"].items():
        c = s["counts"]
        fb = s["feedback"]
        click.echo(
            f"{version}: {c.get('requests', 0)} requests, {c.get('scored', 0)} scored, "
            f"{s['flagged']} flagged; feedback {fb['given']} ({fb['negative']} negative)"
        )
        if not s["flagged"]:
            continue
        _table(f"{version}: top flags", ["flag", "count"], [list(x) for x in s["top_flags"]])
        _table(
            f"{version}: top categories",
            ["category", "count"],
            [list(x) for x in s["top_categories"]],
        )
        _table(
            f"{version}: repeated prompts",
            ["count", "flags", "categories", "example"],
            [
                [
                    p["count"],
                    ",".join(p["flags"]),
                    ",".join(p["categories"]),
                    _one_line(p["example"] or "", 80),
                ]
                for p in s["prompt_clusters"]
            ],
        )
    if result["truncated"]:
        click.echo(
            f"(read the newest {result['flagged_read']} flagged interactions only)", err=True
        )


# -- sessions ----------------------------------------------------------------------------


@logs.command()
@_source
@click.option("--version", help="Version (default: the rolled-back candidate of -c's rollout).")
@click.option("--since", help="From this time.")
@click.option("--until", help="Before this time.")
@click.option("--json", "as_json", is_flag=True)
@_command
def sessions(
    config_path: str | None,
    storage_url: str | None,
    redact: str | None,
    version: str | None,
    since: str | None,
    until: str | None,
    as_json: bool,
) -> None:
    """Conversations a version answered (who met a rolled-back version)."""
    t0 = None if since is None else parse_time(since, option="--since")
    t1 = None if until is None else parse_time(until, option="--until")
    with _open(config_path, storage_url, redact) as src:
        if version is None:
            version, started = _rolled_back(src)
            t0 = t0 if t0 is not None else started
        exposures = sessions_exposed(src.store, version, since=t0, until=t1)
    if as_json:
        for e in exposures:
            click.echo(
                orjson.dumps(
                    {
                        "session_id": e.session_id,
                        "version": version,
                        "requests": e.requests,
                        "first": iso(e.first_at),
                        "last": iso(e.last_at),
                        "later_versions": e.later_versions,
                    }
                ).decode()
            )
        return
    _table(
        f"{len(exposures)} conversations answered by {version}",
        ["session_id", "requests", "first", "last", "continued on"],
        [
            [e.session_id, e.requests, iso(e.first_at), iso(e.last_at), ",".join(e.later_versions)]
            for e in exposures
        ],
    )


def _rolled_back(src: _Source) -> tuple[str, float]:
    """The candidate of the config's rollout when it was rolled back or aborted."""
    if src.rollout is None:
        fail("give --version (or -c rollout.yaml to use its rolled-back candidate)")
    loaded = src.store.load_state(src.rollout)
    if loaded is None:
        fail(f"rollout {src.rollout!r} has no saved state; give --version")
    state = loaded[1]
    if state.get("phase") not in ("rolled_back", "aborted"):
        fail(f"rollout {src.rollout!r} is {state.get('phase')}, not rolled back; give --version")
    return str(state["candidate"]), float(state.get("started_at") or 0.0)


# -- export-findings ---------------------------------------------------------------------


@logs.command("export-findings")
@_source
@_filters
@click.option("--out", type=click.Path(dir_okay=False), help="Findings JSONL (default stdout).")
@click.option("--append", is_flag=True, help="Add to --out, skipping ids and prompts it has.")
@click.option("--limit", type=click.IntRange(1), default=1000, show_default=True)
@_command
def export_findings(
    config_path: str | None,
    storage_url: str | None,
    redact: str | None,
    out: str | None,
    append: bool,
    limit: int,
    **opts: Any,
) -> None:
    """Flagged interactions as red-team findings for the next preflight.

    Default selection: harmful compliance, safety violations and PII leaks.
    One finding per prompt pattern; status "open".
    """
    if append and out is None:
        fail("--append needs --out FILE")
    if opts.pop("flagged"):  # here: every flag a finding can come from
        opts["flags"] = (*opts["flags"], *FINDING_FLAGS)
    elif not opts["flags"]:
        opts["flags"] = ("harmful_compliance", "safety_violation", "pii_leak")
    check_finding_flags(opts["flags"])
    flt = _build_filter({**opts, "flagged": False})
    with _open(config_path, storage_url, redact) as src:
        views = [src.presenter.view(r) for r in iter_interactions(src.store, flt, limit=limit)]
    findings, skipped = findings_from(reversed(views))  # oldest first: stable ids
    if skipped:
        click.echo(f"skipped {skipped} interactions with no stored prompt text", err=True)
    if out is None:
        write_jsonl(findings, sys.stdout)
        return
    path = Path(out)
    if append:
        added, already = merge_findings(path, findings)
        click.echo(f"added {added} findings to {out} ({already} already there)", err=True)
        return
    with _output(out) as fh:
        write_jsonl(findings, fh)
    click.echo(f"wrote {len(findings)} findings to {out}", err=True)
