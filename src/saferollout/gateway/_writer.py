"""The record writer: a queue the request path appends to, flushed in batches.

A thread rather than an asyncio task: the store is synchronous SQLAlchemy, and
a thread keeps every database wait (a locked SQLite file, a PostgreSQL restart)
off the event loop. Appending to a deque is atomic under the GIL, so the
request path takes no lock. A failed flush keeps its batch and retries with
backoff: records wait, they are not dropped, until the queue limit is reached.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from ..store import InteractionRecord, Store, StoreError
from . import _extract

log = logging.getLogger("saferollout.gateway.writer")

BATCH = 1000


class RecordWriter:
    def __init__(
        self,
        store: Store,
        *,
        flush_interval_s: float = 0.5,
        max_queue: int = 200_000,
        redact: Callable[[InteractionRecord], None] | None = None,
        on_written: Callable[[list[InteractionRecord]], None] | None = None,
        on_drop: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.flush_interval_s = flush_interval_s
        self.max_queue = max_queue
        self.redact = redact
        self.on_written = on_written
        self.on_drop = on_drop
        self._queue: deque[InteractionRecord] = deque()
        self._wake = threading.Event()
        self._stopping = False
        self.submitted = 0
        self.written = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="record-writer", daemon=True)
        self._thread.start()

    def submit(self, record: InteractionRecord) -> None:
        """Called on the request path: never blocks, never raises."""
        if len(self._queue) >= self.max_queue:
            self.dropped += 1
            if self.on_drop is not None:
                self.on_drop()
            return
        self.submitted += 1
        self._queue.append(record)

    @property
    def pending(self) -> int:
        return len(self._queue)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def close(self, timeout: float = 30.0) -> None:
        """Flush everything queued and stop; called on shutdown."""
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error(
                "record writer did not finish in %.0fs; %d records unwritten", timeout, self.pending
            )

    def _run(self) -> None:
        backoff = self.flush_interval_s
        while True:
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            stopping = self._stopping
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(BATCH, len(self._queue)))]
                if not self._write(batch):
                    # Put the batch back in front, in order, and try again later;
                    # on shutdown, close() bounds how long we keep trying.
                    self._queue.extendleft(reversed(batch))
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    break
                backoff = self.flush_interval_s
            if stopping and not self._queue:
                return

    def _write(self, batch: list[InteractionRecord]) -> bool:
        try:
            for record in batch:
                finalize(record)
                if self.redact is not None:
                    self.redact(record)
            self.store.insert_interactions(batch)
        except StoreError as exc:
            log.warning("writing %d records failed, will retry: %s", len(batch), exc)
            return False
        except Exception:
            log.exception("writing %d records failed, will retry", len(batch))
            return False
        self.written += len(batch)
        if self.on_written is not None:
            self.on_written(batch)
        return True


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
