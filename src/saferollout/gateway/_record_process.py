"""The record-writer process: turns records into rows and inserts them.

Everything per record that is not the request itself runs here, in a process
of its own: reading the answer text and token counts out of the raw upstream
body, redaction (`logging.redact`, PII patterns included) and the database
insert. In the gateway's process this work took the GIL from the event loop
for ~45 us a request and stalled it for tens of milliseconds at each flush.

Protocol (two pipes the gateway made, framed as multiprocessing connections;
both ends are this program, so pickle is safe here):

- gateway -> here: first `(storage_url, redact, log_level)`, then
  `(seq, rows)`, each row a pickled `record_to_row` tuple, or an empty message:
  write what came, then exit;
- here -> gateway: `(seq, written, tokens)` once the batch is committed
  (`written`: a `Written` as a plain tuple: failed attempts, last error),
  `tokens` being `{(version, kind, endpoint): [n, ...]}` for the token metrics.

Inserts skip request ids already stored, so a batch the gateway sends again
after this process died is never counted twice. It runs in a process group of
its own and ignores SIGINT: Ctrl-C is for the gateway, which drains and then
closes the pipe. SIGTERM writes what has arrived and exits; so does end of
input (the gateway is gone, even if killed).
"""

from __future__ import annotations

import logging
import operator
import pickle
import signal
import sys
import time
from collections import defaultdict
from dataclasses import fields
from multiprocessing.connection import Connection
from typing import Any, NamedTuple

from ..store import InteractionRecord, Store, StoreError
from . import _extract
from ._redact import make_redactor

log = logging.getLogger("saferollout.gateway.writer")

BATCH = 1000  # records per message, and per insert
_FIELDS = tuple(f.name for f in fields(InteractionRecord))
# One C call per record on the gateway side (vs dataclass pickling in Python).
record_to_row = operator.attrgetter(*_FIELDS)

Tokens = dict[tuple[str, str, str], list[int]]
PROTOCOL = pickle.HIGHEST_PROTOCOL  # both ends are this program


class Written(NamedTuple):
    """How a batch went: the failed attempts before it was committed."""

    failures: int = 0
    last_error: str = ""


def main(batches_fd: int, acks_fd: int) -> None:
    """`python -m saferollout.gateway._record_process BATCHES_FD ACKS_FD`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    batches = Connection(batches_fd, writable=False)
    acks = Connection(acks_fd, readable=False)
    try:
        storage_url, redact, log_level = pickle.loads(batches.recv_bytes())
    except EOFError:
        return
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    store = Store(storage_url, create=False)
    redactor = make_redactor(redact)
    gateway_alive = True
    try:
        while True:
            # poll with a timeout, not a blocking recv: a SIGTERM must be noticed.
            if not batches.poll(0.2):
                if stopping:
                    return
                continue
            try:
                message = batches.recv_bytes()
            except EOFError:  # the gateway is gone: what arrived is written, nothing more comes
                return
            if message == b"":
                return
            seq, rows = pickle.loads(message)
            records = [InteractionRecord(*pickle.loads(row)) for row in rows]
            tokens = prepare(records, redactor)
            written = write(store, records, lambda: stopping)
            if written is None:  # told to stop while the database was down
                return
            if gateway_alive:
                try:
                    # A plain tuple: run as `python -m`, this module is __main__ here, and
                    # a pickled Written would name a class the gateway cannot find.
                    ack = (seq, tuple(written), tokens)
                    acks.send_bytes(pickle.dumps(ack, PROTOCOL))
                except OSError:  # the gateway is gone: still write what is in the pipe
                    gateway_alive = False
    finally:
        store.close()


def prepare(records: list[InteractionRecord], redactor: Any) -> Tokens:
    """Finalize and redact each record; return the token counts for the metrics."""
    tokens: Tokens = defaultdict(list)
    for record in records:
        finalize(record)
        if redactor is not None:
            redactor(record)
        if record.prompt_tokens:
            tokens[(record.version, "input", record.endpoint)].append(record.prompt_tokens)
        if record.completion_tokens:
            tokens[(record.version, "output", record.endpoint)].append(record.completion_tokens)
    return dict(tokens)


def write(store: Store, records: list[InteractionRecord], stopping: Any) -> Written | None:
    """Insert, retrying with backoff while the database is unavailable: records
    wait, they are not dropped. None when told to stop before it succeeded."""
    backoff = 0.1
    failures, last_error = 0, ""
    while True:
        try:
            store.insert_interactions(records)
            return Written(failures, last_error)
        except StoreError as exc:
            log.warning("writing %d records failed, will retry: %s", len(records), exc)
            last_error = str(exc)
        except Exception as exc:
            log.exception("writing %d records failed, will retry", len(records))
            last_error = type(exc).__name__  # its text may quote the records' contents
        failures += 1
        if stopping():
            log.error("stopped with %d records unwritten (database unavailable)", len(records))
            return None
        time.sleep(backoff)
        backoff = min(backoff * 2, 5.0)


def finalize(record: InteractionRecord) -> None:
    """Fill text and token counts from the raw upstream body the gateway kept."""
    raw = record.raw_response
    if raw is None:
        return
    record.raw_response = None
    answered = record.error_kind is None and record.status_code == 200
    if record.stream:
        text, pt, ct, done = _extract.from_sse(record.endpoint, raw)
        if not done and answered:
            record.error_kind = "stream_incomplete"
    else:
        text, pt, ct, well_formed = _extract.from_json(record.endpoint, raw)
        if answered and not well_formed:
            record.error_kind = "upstream_malformed"
    record.response_text = text
    record.prompt_tokens = pt if record.prompt_tokens is None else record.prompt_tokens
    record.completion_tokens = ct if record.completion_tokens is None else record.completion_tokens


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
