"""Fixtures for the safety tests: fixture files, a simulated judge on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture
def judge_server() -> Iterator[object]:
    """A simulated OpenAI-compatible judge (Llama Guard and rubric answers) on loopback."""
    from saferollout.simulation.judge import start_judge

    handle = start_judge()
    yield handle
    handle.stop()
