"""The report of a rollout: `saferollout report`, and the one `serve` writes at a decision.

Both build it with `report.build_rollout_report` from the store named by
rollout.yaml (with the controller's last published judgement) and write
report.json + report.html. Texts of flagged interactions are shown per
`logging.redact` again, as `logs` and the dashboard show them.

`serve` (`DecisionReporter`): the leader watches the audit log for the
rollout's newest decision (`DECISION_KINDS`) and, once per decision, builds
the report in a child process and appends a `report_written` event. The
event is what a restart, or a new leader on another host, checks, so a
decision gets one report. The directory name is fixed by the decision
(`<rollout>-<decision>-<UTC time of the decision>`) and appears by an atomic
rename, so even a crash between writing and recording rewrites the same
directory, never a second one.
"""

from __future__ import annotations

import logging
import multiprocessing
import shutil
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa

from ..config import RolloutConfig
from ..report import ReportError, build_rollout_report, write_rollout_report
from ..report._rollout import DECISION_KINDS
from ..safety import mask_pii, mask_pii_in
from ..store import Store, StoreError, redact_url, schema
from ._common import config_option, fail, load_or_exit

log = logging.getLogger("saferollout.report")

REPORT_EVENT = "report_written"
DEFAULT_OUT = Path("saferollout-report")
DEFAULT_REPORT_DIR = Path("saferollout-reports")


# -- shared ------------------------------------------------------------------------


def build_report(store: Store, rollout: str, redact: str) -> dict[str, Any]:
    """The rollout report with the last judgement, flagged texts shown per `redact`.

    Raises ReportError when the store holds no rollout of that name."""
    report = build_rollout_report(store, rollout, judgement=store.get_judgement(rollout))
    for item in report["flagged"]:
        if redact == "drop":
            item["prompt"], item["response"] = "", ""
        elif redact == "pii":
            # Records written before `redact: pii` was set are masked here too.
            item["prompt"], item["response"] = mask_pii(item["prompt"]), mask_pii(item["response"])
            item["evidence"] = mask_pii_in(item["evidence"])
    return report


# -- saferollout report ---------------------------------------------------------------


@click.command()
@config_option
@click.option(
    "--rollout",
    "rollout_name",
    default=None,
    metavar="NAME",
    help="The rollout to report on (default: the config's `name`)",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_OUT,
    show_default=True,
    help="Where report.json and report.html go",
)
def report(config_path: str, rollout_name: str | None, out: Path) -> None:
    """Write the report of a rollout (running or finished) from the store."""
    cfg = load_or_exit(config_path)
    name = rollout_name or cfg.name
    shown = redact_url(cfg.storage.url)
    store = _open_existing(cfg.storage.url, shown)
    try:
        try:
            data = build_report(store, name, cfg.logging.redact)
        except ReportError:
            names = _rollout_names(store)
            held = f"it holds {', '.join(names)}" if names else "it holds no rollout yet"
            fail(f"storage {shown}: no rollout named {name!r} ({held}); see --rollout")
        except (StoreError, sa.exc.SQLAlchemyError) as exc:
            message = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            fail(f"storage {shown}: {message}")
    finally:
        store.close()
    try:
        json_path, html_path = write_rollout_report(data, out)
    except OSError as exc:
        fail(f"--out {out}: cannot write the report: {exc.strerror or exc}")
    click.echo(
        f"rollout {name}: {data['decision']} (phase {data['phase']}); "
        f"report {html_path} and {json_path}"
    )


def _open_existing(url: str, shown: str) -> Store:
    """The store, read as it is: a report never creates a database or its tables."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        fail(f"storage.url {shown}: {exc}")
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(str(parsed.database))
        if not path.exists():
            fail(f"storage {shown}: no database file at {path} (nothing recorded yet)")
    try:
        store = Store(url, create=False)
        with store.engine.connect() as conn:
            has_state = sa.inspect(conn).has_table(schema.rollout_state.name)
    except (StoreError, sa.exc.SQLAlchemyError) as exc:
        message = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        fail(f"storage {shown}: {message}")
    if not has_state:
        store.close()
        fail(f"storage {shown}: no saferollout tables (nothing recorded yet)")
    return store


def _rollout_names(store: Store) -> list[str]:
    with store.engine.connect() as conn:
        names = conn.execute(sa.select(schema.rollout_state.c.name).order_by("name")).scalars()
        return [str(n) for n in names]


# -- serve: one report per decision ----------------------------------------------------


class ReportWriteError(Exception):
    """Writing a decision report failed; `path` is where it was going."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(message)
        self.path = path


def write_decision_report(
    url: str, rollout: str, redact: str, report_dir: Path
) -> tuple[int, str, Path]:
    """Build the report of the rollout's newest decision and write it into its own
    directory under `report_dir`; returns (decision event id, decision, directory)."""
    store = Store(url, create=False)
    try:
        data = build_report(store, rollout, redact)
    finally:
        store.close()
    event = data["decision_event"]
    if event is None:
        raise ReportError(f"rollout {rollout!r} has no decision to report")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(float(event["created_at"])))
    target = report_dir / f"{rollout}-{data['decision']}-{stamp}"
    if not target.exists():  # else written already, before a crash kept it unrecorded
        partial = report_dir / f".{target.name}.partial"
        try:
            shutil.rmtree(partial, ignore_errors=True)
            write_rollout_report(data, partial)
            partial.rename(target)
        except OSError as exc:
            shutil.rmtree(partial, ignore_errors=True)
            raise ReportWriteError(target, exc.strerror or str(exc)) from exc
    return int(event["id"]), str(data["decision"]), target


def _child_main(url: str, rollout: str, redact: str, report_dir: str, conn: Connection) -> None:
    """Entry point of the child process that writes one decision report."""
    try:
        conn.send(("ok", write_decision_report(url, rollout, redact, Path(report_dir))))
    except ReportWriteError as exc:
        conn.send(("error", str(exc.path), str(exc)))
    except Exception as exc:
        conn.send(("error", report_dir, f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


class DecisionReporter:
    """Writes the report of each decision the rollout reaches, once, while leading.

    The report is built in a child process, not a thread: it reads every
    record of the rollout into Python (`report._rollout_data.load_rows`),
    which would hold the gateway's GIL for seconds on a large rollout, at the
    very moment its traffic moves. A failed write is logged with its path and
    retried after `retry_s`; nothing here can stop the gateway.
    """

    def __init__(
        self,
        store: Store,
        config: RolloutConfig,
        report_dir: Path,
        *,
        leading: Callable[[], bool],
        poll_s: float = 1.0,
        retry_s: float = 60.0,
        timeout_s: float = 600.0,
    ) -> None:
        self.store = store
        self.rollout = config.name
        self.url = config.storage.url
        self.redact = config.logging.redact
        self.report_dir = report_dir
        self.leading = leading
        self.poll_s = poll_s
        self.retry_s = retry_s
        self.timeout_s = timeout_s
        self._seen = 0  # last event id read
        self._latest: dict[str, Any] | None = None  # the newest decision event
        self._written: dict[int, str] = {}  # decision event id -> report directory
        self._noted: set[int] = set()
        self._retry_at: dict[int, float] = {}
        self._child: BaseProcess | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="decision-report", daemon=True)

    def start(self) -> DecisionReporter:
        # The directory is created by the first report, not here: a start writes nothing.
        log.info("the report of each decision goes to %s", self.report_dir)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop watching; a report being written is abandoned (the next start writes it)."""
        self._stop.set()
        self._wake.set()
        child = self._child
        if child is not None and child.is_alive():
            child.terminate()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def wake(self) -> None:
        """Look now (the controller just recorded an event) instead of at the next poll."""
        self._wake.set()

    def on_event(self, event: dict[str, Any]) -> None:
        """`Controller.on_event`: a decision wakes the reporter at once."""
        if event.get("kind") in DECISION_KINDS:
            self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.leading():
                try:
                    self.check()
                except Exception:
                    log.exception("decision report: reading the store failed; retrying")
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def check(self) -> Path | None:
        """Write the report of the newest decision if it has none; the directory if written."""
        loaded = self.store.load_state(self.rollout)
        if loaded is None:
            return None
        self._read_events()
        event = self._latest
        # A decision before the current rollout's start belongs to an earlier candidate.
        if event is None or float(event["created_at"]) < float(loaded[1]["started_at"]):
            return None
        event_id = int(event["id"])
        if event_id in self._written:
            if event_id not in self._noted:
                self._noted.add(event_id)
                log.info(
                    "report of the %s decision (event %d) already written to %s",
                    event["kind"],
                    event_id,
                    self._written[event_id],
                )
            return None
        if time.monotonic() < self._retry_at.get(event_id, 0.0):
            return None
        outcome = self._write_in_child()
        if outcome is None:
            return None
        if outcome[0] != "ok":
            _, path, message = outcome
            log.error(
                "could not write the report of the %s decision to %s: %s; retrying in %g s",
                event["kind"],
                path,
                message,
                self.retry_s,
            )
            self._retry_at[event_id] = time.monotonic() + self.retry_s
            return None
        decision_id, decision, path = outcome[1]
        self.store.append_event(
            self.rollout,
            REPORT_EVENT,
            f"report of the {decision} decision written to {path}",
            actor="runtime",
            data={"decision_event": decision_id, "decision": decision, "dir": str(path)},
        )
        self._written[decision_id] = str(path)
        self._noted.add(decision_id)
        log.info("report of the %s decision written to %s", decision, path)
        return Path(path)

    def _read_events(self) -> None:
        while True:
            batch = self.store.list_events(self.rollout, after_id=self._seen, limit=500)
            for e in batch:
                if e["kind"] in DECISION_KINDS:
                    self._latest = e
                elif e["kind"] == REPORT_EVENT:
                    data = e.get("data") or {}
                    if data.get("decision_event") is not None:
                        self._written[int(data["decision_event"])] = str(data.get("dir"))
            if batch:
                self._seen = int(batch[-1]["id"])
            if len(batch) < 500:
                return

    def _write_in_child(self) -> tuple[Any, ...] | None:
        """Run `write_decision_report` in a spawned process; None when stopped meanwhile."""
        ctx = multiprocessing.get_context("spawn")
        receive, send = ctx.Pipe(duplex=False)
        child = ctx.Process(
            target=_child_main,
            args=(self.url, self.rollout, self.redact, str(self.report_dir), send),
            name="decision-report",
            daemon=True,
        )
        self._child = child
        child.start()
        send.close()
        deadline = time.monotonic() + self.timeout_s
        outcome: tuple[Any, ...] | None = None
        try:
            while not self._stop.is_set():
                if receive.poll(0.2):
                    outcome = receive.recv()  # EOFError: it died without an answer
                    break
                if time.monotonic() > deadline:
                    late = f"timed out after {self.timeout_s:g} s"
                    outcome = ("error", str(self.report_dir), late)
                    break
        except EOFError:
            child.join(5)
            outcome = ("error", str(self.report_dir), f"the writer died (exit {child.exitcode})")
        finally:
            receive.close()
            child.join(5 if outcome is not None and outcome[0] == "ok" else 0)
            if child.is_alive():
                child.terminate()
                child.join(5)
            self._child = None
        return outcome


__all__ = [
    "DEFAULT_REPORT_DIR",
    "REPORT_EVENT",
    "DecisionReporter",
    "build_report",
    "report",
    "write_decision_report",
]
