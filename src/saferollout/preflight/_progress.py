"""Progress while items are sent: a rich bar on a terminal, plain lines otherwise (CI logs)."""

from __future__ import annotations

import sys
import threading
from types import TracebackType
from typing import TextIO


class Progress:
    """Counts finished requests; call `advance()` from the sending loop."""

    def __init__(self, total: int, label: str, *, stream: TextIO | None = None) -> None:
        self.total = max(total, 1)
        self.label = label
        self.done = 0
        self._stream = stream if stream is not None else sys.stderr
        self._lock = threading.Lock()
        self._rich = None
        self._task = None
        self._next_line = 0.1  # plain mode: a line every 10%

    def __enter__(self) -> Progress:
        if self._stream.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self._rich = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=Console(file=self._stream),
                transient=False,
            )
            self._rich.start()
            self._task = self._rich.add_task(self.label, total=self.total)
        else:
            print(f"{self.label}: {self.total} requests", file=self._stream, flush=True)
        return self

    def advance(self) -> None:
        with self._lock:
            self.done += 1
            if self._rich is not None:
                self._rich.update(self._task, completed=self.done)
            elif self.done / self.total >= self._next_line or self.done == self.total:
                pct = 100 * self.done / self.total
                print(
                    f"{self.label}: {self.done}/{self.total} ({pct:.0f}%)",
                    file=self._stream,
                    flush=True,
                )
                while self._next_line <= self.done / self.total:
                    self._next_line += 0.1

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._rich is not None:
            self._rich.stop()
