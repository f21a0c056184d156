"""Errors the safety package raises; foreign errors are translated at the boundary.

SafetyError
 ├── UnknownScorer        a scorer name that is not in the registry
 ├── ModelDataError       a committed weight file is missing or malformed
 ├── DatasetError         a labeled file the harness cannot read (bad format or rows)
 └── JudgeError           the LLM judge endpoint failed or answered unparseably
"""

from __future__ import annotations


class SafetyError(Exception):
    """Base class for safety errors."""


class UnknownScorer(SafetyError, KeyError):
    """A scorer name that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


class ModelDataError(SafetyError):
    """A weight file shipped with the package is missing or malformed."""


class DatasetError(SafetyError, ValueError):
    """A labeled dataset the harness cannot read."""


class JudgeError(SafetyError):
    """The judge endpoint failed, timed out, or answered in an unknown format."""
