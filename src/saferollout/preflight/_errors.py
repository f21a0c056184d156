"""Errors of the preflight package.

PreflightError            anything preflight refuses to run with (bad input: exit 2)
+-- SuiteError            a suite or findings file that cannot be read, with file and line
"""

from __future__ import annotations


class PreflightError(Exception):
    """Preflight cannot run as asked; the message says what and where."""


class SuiteError(PreflightError):
    """A suite or findings file is unreadable or has a bad line."""

    def __init__(self, path: str, message: str, *, line: int | None = None) -> None:
        self.path = path
        self.line = line
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")
