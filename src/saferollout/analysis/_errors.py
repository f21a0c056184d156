"""Errors raised by the analysis package.

Hierarchy::

    ValueError
     └── AnalysisError        bad input: negative counts, events > n, weights that do
                              not make sense, a configuration that cannot be tested

The package has no I/O, so the only failure is being handed numbers that cannot be
analysed; callers see this one class and never a numpy or scipy error.
"""

from __future__ import annotations

__all__ = ["AnalysisError"]


class AnalysisError(ValueError):
    """Input that cannot be analysed (the message says which value and why)."""
