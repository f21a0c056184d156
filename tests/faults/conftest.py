"""Fault-suite fixtures: a faulty candidate, a calm stable model, helpers to wait on records."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from saferollout.simulation import BackendHandle, Profile, start_backend
from saferollout.store import Store

from .fault_upstream import FaultUpstream

CALM = Profile(name="calm", error_rate=0.0, pii_leak_rate=0.0, toxic_rate=0.0)


@pytest.fixture
def faulty() -> Iterator[FaultUpstream]:
    with FaultUpstream() as upstream:
        yield upstream


@pytest.fixture
def calm_stable() -> Iterator[BackendHandle]:
    with start_backend(CALM, latency_ms=1, seed=1) as handle:
        yield handle


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def wait_records(store: Store, n: int, timeout: float = 10.0) -> int:
    """Wait until the store holds at least n interactions; returns the count."""
    wait_until(lambda: store.count_interactions() >= n, timeout)
    return store.count_interactions()
