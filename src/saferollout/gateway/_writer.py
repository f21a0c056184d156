"""The record writer: a queue the request path appends to, written by a process.

The request path pickles the record as a tuple and appends it to a deque
(atomic under the GIL, no lock, never blocks). A sender thread ships batches
to the record-writer process (`_record_process`), which parses, redacts and
inserts them; the gateway's process keeps only the cheap part: two C calls
per record, one pipe write per batch. In a thread, that work held the GIL
for tens of milliseconds at each flush: at 16 connections the p99 fell from
~90 to ~12 ms, and throughput rose from ~57% to ~61% of a bare proxy's with
the process on the gateway's core, ~71% with it on another (bench/README).

Nothing is lost to the process: a batch stays here until the process
acknowledges it committed; if the process dies, a new one is started and
every unacknowledged batch is sent again (inserts skip request ids already
stored). While the database is down, batches wait in the process and
records wait here, up to `max_queue`; beyond it they are dropped and counted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import subprocess
import sys
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from multiprocessing.connection import Connection, wait

from ..store import InteractionRecord
from . import _record_process
from ._record_process import BATCH, PROTOCOL, Tokens, record_to_row

log = logging.getLogger("saferollout.gateway.writer")

MAX_UNACKED = 4  # batches sent and not yet committed; more wait in the queue here
_CLOSE = b""  # tells the process to exit once everything before it is written


class RecordWriter:
    def __init__(
        self,
        storage_url: str,
        *,
        redact: str = "none",
        flush_interval_s: float = 0.5,
        max_queue: int = 200_000,
        on_written: Callable[[int, Tokens], None] | None = None,
        on_drop: Callable[[], None] | None = None,
        on_restart: Callable[[], None] | None = None,
    ) -> None:
        self.storage_url = storage_url
        self.redact = redact
        self.flush_interval_s = flush_interval_s
        self.max_queue = max_queue
        self.on_written = on_written
        self.on_drop = on_drop
        self.on_restart = on_restart
        self._queue: deque[bytes] = deque()  # pickled rows
        self._unacked: OrderedDict[int, tuple[int, bytes]] = OrderedDict()  # seq -> (n, payload)
        self._unacked_records = 0
        self._seq = 0
        self._stopping = False
        self._abandoned = False  # close() gave up waiting: the thread must not go on
        self._process: subprocess.Popen[bytes] | None = None
        self._batches: Connection | None = None  # we send on it
        self._acks: Connection | None = None  # we receive on it
        self.submitted = 0
        self.written = 0
        self.dropped = 0
        self.starts = 0  # of the record-writer process; more than 1 after a crash
        self.resent = 0  # records sent again to a new process after one died
        # close() wakes the sender thread through this pipe (it waits on acks).
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="record-writer", daemon=True)
        self._thread.start()

    def submit(self, record: InteractionRecord) -> None:
        """Called on the request path: never blocks, never raises."""
        if len(self._queue) + self._unacked_records >= self.max_queue:
            self._drop()
            return
        try:
            # Pickled now, while it is hot in the cache: a record kept as objects
            # until the next flush survives into the GC's older generations and is
            # traversed again and again; bytes are not tracked at all.
            row = pickle.dumps(record_to_row(record), PROTOCOL)
        except Exception:
            log.exception("record %s could not be serialized; dropped", record.request_id)
            self._drop()
            return
        self.submitted += 1
        self._queue.append(row)

    def _drop(self) -> None:
        self.dropped += 1
        if self.on_drop is not None:
            self.on_drop()

    @property
    def pending(self) -> int:
        """Records not yet known to be stored: queued here or sent and unacknowledged."""
        return len(self._queue) + self._unacked_records

    @property
    def unacknowledged(self) -> int:
        """Records sent to the process and not yet reported committed."""
        return self._unacked_records

    @property
    def pid(self) -> int | None:
        """The record-writer process's pid (None while none runs)."""
        process = self._process
        return None if process is None else process.pid

    @property
    def alive(self) -> bool:
        process = self._process
        return self._thread.is_alive() and process is not None and process.poll() is None

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued and stop; called on shutdown."""
        self._stopping = True
        self._wake()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error(
                "record writer did not finish in %.0fs; %d records unwritten", timeout, self.pending
            )
            # Only the sender thread touches the pipes: stop it, and the process.
            self._abandoned = True
            process = self._process
            if process is not None:
                with contextlib.suppress(OSError):
                    process.kill()
            self._wake()
            self._thread.join(5)
            if self._thread.is_alive():
                return  # the wake pipe stays open for it
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    # -- the sender thread -------------------------------------------------------

    def _run(self) -> None:
        try:
            self._serve()
        finally:
            self._kill()

    def _serve(self) -> None:
        backoff = 0.0
        while not self._abandoned:
            if self._process is None:
                if backoff:
                    wait([self._wake_r], backoff)  # close() cuts it short
                # Until a process has committed a batch, each new one waits longer.
                backoff = min(max(backoff * 2, 0.1), 5.0)
                if not self._start_child():
                    continue
            try:
                self._send_ready()
                if self._receive_acks(self.flush_interval_s if len(self._queue) < BATCH else 0):
                    backoff = 0.0
            except (OSError, EOFError) as exc:  # the process died: start another, resend
                self._lose_child(str(exc) or type(exc).__name__)
                continue
            if self._process is not None and self._process.poll() is not None:
                self._lose_child(f"exit code {self._process.returncode}")
                continue
            if self._stopping and not self._queue and not self._unacked:
                self._finish_child()
                return

    def _start_child(self) -> bool:
        # Our own pipes and `python -m`, not multiprocessing: the process imports only
        # what it needs (~0.2 s), and never re-imports the embedding program's __main__.
        batches_r, batches_w = os.pipe()
        acks_r, acks_w = os.pipe()
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", _record_process.__name__, str(batches_r), str(acks_w)],
                pass_fds=(batches_r, acks_w),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                # Its own process group: Ctrl-C at a terminal goes to the gateway,
                # which drains and then closes the pipe; the writer ends with it.
                process_group=0,
            )
        except OSError:
            log.exception("could not start the record-writer process")
            for fd in (batches_r, batches_w, acks_r, acks_w):
                os.close(fd)
            return False
        # Only the child keeps its ends: its end of input comes when we close ours.
        os.close(batches_r)
        os.close(acks_w)
        self._process = process
        self._batches = Connection(batches_w, readable=False)
        self._acks = Connection(acks_r, writable=False)
        self.starts += 1
        if self.starts > 1 and self.on_restart is not None:
            self.on_restart()
        try:
            # The settings travel on the pipe, not argv: the URL may hold a password.
            init = (self.storage_url, self.redact, log.getEffectiveLevel())
            self._batches.send_bytes(pickle.dumps(init, PROTOCOL))
            for n, payload in self._unacked.values():  # in the order first sent
                self._batches.send_bytes(payload)
                self.resent += n
        except OSError as exc:
            self._lose_child(str(exc))
            return False
        return True

    def _send_ready(self) -> None:
        assert self._batches is not None
        popleft = self._queue.popleft
        while self._queue and len(self._unacked) < MAX_UNACKED:
            n = min(BATCH, len(self._queue))
            rows = [popleft() for _ in range(n)]
            self._seq += 1
            payload = pickle.dumps((self._seq, rows), PROTOCOL)
            self._unacked[self._seq] = (n, payload)
            self._unacked_records += n
            self._batches.send_bytes(payload)

    def _receive_acks(self, timeout: float) -> int:
        """Wait up to `timeout` for acknowledgements; returns how many came."""
        assert self._acks is not None and self._process is not None
        ready = wait([self._acks, self._wake_r], timeout)  # a dead process's acks end in EOF
        if self._wake_r in ready:
            os.read(self._wake_r, 64)
        acked = 0
        while self._acks.poll():
            acked += 1
            seq, written, tokens = pickle.loads(self._acks.recv_bytes())
            failures, last_error = written  # a Written, sent as a plain tuple
            n, _payload = self._unacked.pop(seq)
            self._unacked_records -= n
            # Each record of it is stored now, once: ids are unique, and a batch
            # sent again (its first process died after committing) is acked once.
            self.written += n
            if failures:
                # The process logs each failure on stderr; the gateway's log says
                # how it ended, so an outage and its recovery show in one place.
                log.warning(
                    "%d records written after %d failed attempts (last: %s)",
                    n,
                    failures,
                    last_error,
                )
            if self.on_written is not None:
                try:
                    self.on_written(n, tokens)
                except Exception:
                    log.exception("counting written records failed")
        return acked

    def _lose_child(self, why: str) -> None:
        log.warning(
            "record-writer process lost (%s) with %d records unacknowledged; starting another",
            why,
            self._unacked_records,
        )
        self._kill()

    def _finish_child(self) -> None:
        """Everything is acknowledged: ask the process to exit and wait for it."""
        with contextlib.suppress(OSError):
            if self._batches is not None:
                self._batches.send_bytes(_CLOSE)
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(10)
        self._kill()

    def _kill(self) -> None:
        process, self._process = self._process, None
        for conn in (self._batches, self._acks):
            if conn is not None:
                conn.close()
        self._batches = self._acks = None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
