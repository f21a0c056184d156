"""Errors of the simulation package.

SimulationError
├── UnknownProfile     a profile name that is not registered
└── BackendStartError  a simulated backend could not start (port taken, ...)
"""

from __future__ import annotations


class SimulationError(Exception):
    """Base of every error the simulation package raises."""


class UnknownProfile(SimulationError, KeyError):
    """A profile name that is not in the registry."""

    def __init__(self, name: str, *, known: list[str]) -> None:
        self.name = name
        self.known = known
        super().__init__(f"unknown profile {name!r}; known: {', '.join(known)}")

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0])


class BackendStartError(SimulationError):
    """A simulated backend did not come up."""
