"""The record-writer process: killed, stopped or interrupted, it loses and doubles nothing.

The gateway keeps every batch until the process says it is committed; a new
process gets the unacknowledged batches again, and inserts skip ids already
stored. These tests kill the real process (SIGKILL, SIGTERM) under real traffic.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

import pytest
import sqlalchemy as sa

from saferollout.gateway import GatewayHandle, RecordWriter
from saferollout.gateway._record_process import record_to_row
from saferollout.simulation import BackendHandle
from saferollout.store import InteractionRecord, Store

from .conftest import make_config, send_chats


async def _traffic(url: str, n: int) -> list[str]:
    """n requests from 16 clients, all answered 200: the request ids they saw."""
    answers = await send_chats(url, n, 16, content="Name three rivers.")
    assert all(status == 200 and rid for status, rid in answers), answers
    return [rid for _status, rid in answers if rid]


def _signal_during_traffic(gw: GatewayHandle, signum: int, times: int) -> list[str]:
    """Send `signum` to the record-writer process `times` times while traffic flows
    (rounds of 150 requests go on until then, and one more after)."""
    writer = gw.gateway.writer
    assert writer is not None
    signalled: set[int] = set()

    async def signaller() -> None:
        while len(signalled) < times:
            await asyncio.sleep(0.15)
            pid = writer.pid
            if pid is not None and pid not in signalled and writer.unacknowledged:
                os.kill(pid, signum)
                signalled.add(pid)

    async def scenario() -> list[str]:
        task = asyncio.create_task(signaller())
        ids: list[str] = []
        while not task.done():
            ids += await _traffic(gw.url, 150)
        await task
        return ids + await _traffic(gw.url, 150)

    return asyncio.run(scenario())


def _stored_ids(store: Store) -> list[str]:
    with store.engine.connect() as conn:
        return [row[0] for row in conn.execute(sa.text("SELECT request_id FROM interactions"))]


def _record(i: int) -> InteractionRecord:
    return InteractionRecord(
        request_id=f"r{i}",
        created_at=time.time(),
        version="v",
        endpoint="chat.completions",
        status_code=200,
        latency_ms=1.0,
    )


def _wait(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_writer_process_killed_under_traffic_loses_and_doubles_nothing(
    signum: int,
    backends: Callable[..., BackendHandle],
    gateway_factory: Callable[..., GatewayHandle],
    sqlite_store: Store,
) -> None:
    stable = backends()
    gw = gateway_factory(make_config(stable.base_url, stable.base_url, weight=0))
    writer = gw.gateway.writer
    assert writer is not None
    ids = _signal_during_traffic(gw, signum, times=3)
    gw.stop()
    stored = _stored_ids(sqlite_store)
    assert len(stored) == len(ids) == len(set(ids))
    assert set(stored) == set(ids)
    assert writer.starts >= 4  # a new process after each signal
    registry = gw.gateway.metrics.registry
    restarts = registry.get_sample_value("saferollout_record_writer_restarts_total")
    assert restarts == writer.starts - 1
    assert writer.written == len(ids)  # a batch sent again is not counted again
    assert writer.dropped == 0
    if signum == signal.SIGKILL:  # killed holding batches: a new process got them
        assert writer.resent > 0


def test_ctrl_c_is_for_the_gateway_not_its_writer_process(
    backends: Callable[..., BackendHandle],
    gateway_factory: Callable[..., GatewayHandle],
    sqlite_store: Store,
) -> None:
    """Ctrl-C reaches a terminal's process group: the gateway drains and closes the
    pipe, and the writer must not die first with records in hand. It has a group
    of its own, and a SIGINT sent to it anyway is ignored."""
    stable = backends()
    gw = gateway_factory(make_config(stable.base_url, stable.base_url, weight=0))
    writer = gw.gateway.writer
    assert writer is not None
    ids = asyncio.run(_traffic(gw.url, 30))
    assert _wait(lambda: writer.written == 30, 10)  # running, its handlers installed
    pid = writer.pid
    assert pid is not None
    assert os.getpgid(pid) == pid != os.getpgid(0)
    os.kill(pid, signal.SIGINT)
    ids += asyncio.run(_traffic(gw.url, 30))
    gw.stop()
    assert writer.starts == 1
    assert sorted(_stored_ids(sqlite_store)) == sorted(ids)


def test_records_wait_while_the_database_cannot_be_opened(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'not-yet' / 'x.db'}"
    writer = RecordWriter(url, flush_interval_s=0.05)
    for i in range(5):
        writer.submit(_record(i))
    time.sleep(1.0)  # several failed inserts
    assert writer.pending == 5 and writer.written == 0
    (tmp_path / "not-yet").mkdir()
    Store(url).close()
    assert _wait(lambda: writer.written == 5, 15)
    writer.close(10)
    assert writer.pending == 0 and writer.starts == 1
    store = Store(url)
    try:
        assert sorted(_stored_ids(store)) == [f"r{i}" for i in range(5)]
    finally:
        store.close()


def test_a_process_that_dies_at_start_is_started_again_and_close_gives_up_in_time() -> None:
    writer = RecordWriter("nosuchdb://x", flush_interval_s=0.05)  # the process exits at once
    writer.submit(_record(0))
    assert _wait(lambda: writer.starts >= 3, 15)
    assert writer.pending == 1 and writer.written == 0
    started = time.monotonic()
    writer.close(1.0)
    assert time.monotonic() - started < 5
    assert not writer.alive


@pytest.mark.postgres
def test_storage_password_is_not_on_the_writer_command_line(
    backends: Callable[..., BackendHandle],
    gateway_factory: Callable[..., GatewayHandle],
    pg_database_url: str,
) -> None:
    """The URL reaches the process through its pipe, not argv (which `ps` shows)."""
    url = sa.engine.make_url(pg_database_url).set(password="hunter2-not-in-ps")
    store = Store(url.render_as_string(hide_password=False))  # trust auth ignores it
    try:
        stable = backends()
        gw = gateway_factory(make_config(stable.base_url, stable.base_url), store=store)
        writer = gw.gateway.writer
        assert writer is not None
        asyncio.run(_traffic(gw.url, 10))
        pid = writer.pid
        assert pid is not None
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        assert b"_record_process" in cmdline
        assert b"hunter2" not in cmdline
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        assert b"hunter2" not in environ
        gw.stop()
    finally:
        store.close()


def test_the_process_writes_what_it_received_after_the_gateway_died(tmp_path: Path) -> None:
    """A gateway killed with batches still in the pipe: the process writes them all,
    though it can no longer acknowledge any, and exits at the end of its input."""
    url = f"sqlite:///{tmp_path / 'orphan.db'}"
    Store(url).close()
    batches_r, batches_w = os.pipe()
    acks_r, acks_w = os.pipe()
    process = subprocess.Popen(
        [sys.executable, "-m", "saferollout.gateway._record_process", str(batches_r), str(acks_w)],
        pass_fds=(batches_r, acks_w),
    )
    os.close(batches_r)
    os.close(acks_w)
    batches = Connection(batches_w, readable=False)
    batches.send_bytes(pickle.dumps((url, "none", logging.WARNING)))
    for seq in range(3):
        rows = [pickle.dumps(record_to_row(_record(seq * 10 + i))) for i in range(10)]
        batches.send_bytes(pickle.dumps((seq, rows)))
    # As SIGKILL would leave it: both of the gateway's ends closed at once.
    batches.close()
    os.close(acks_r)
    assert process.wait(30) == 0
    store = Store(url)
    try:
        assert sorted(_stored_ids(store)) == sorted(f"r{i}" for i in range(30))
    finally:
        store.close()
