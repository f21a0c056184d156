"""The gateway's overhead benchmark: direct vs bare aiohttp proxy vs saferollout.

Run by hand on the 2-core benchmark machine (see bench/README.md):

    .venv/bin/python bench/gateway.py            # full run, about 5 minutes
    .venv/bin/python bench/gateway.py --quick    # smoke run, about 75 s
    .venv/bin/python bench/gateway.py --json out.json

One run measures, side by side on the same machine:

- direct: the load generator against a fast mock upstream (bench/mock_upstream.py);
- bare: through a bare aiohttp + uvloop pass-through proxy (bench/bare_proxy.py),
  the baseline the gateway's targets are relative to;
- gateway: through `saferollout serve --no-scoring` with a generated rollout.yaml
  (two versions on the mock, candidate at 10% so routing hashes every request,
  SQLite storage so records are written, retry_on_stable on, controller on).

Core 0 runs the proxy under test (bare or gateway, one at a time under load);
core 1 runs the mock upstreams, the load generators (wrk, bench/_openloop.py)
and this script, so the client never competes with the proxy for its core.
Everything runs at niceness -20 (as root) and every run records how much CPU
other processes took meanwhile; a disturbed run is repeated while time allows.

Loads: closed loop with wrk at 1 connection (latency) and 16 connections
(throughput at saturation); open loop at fixed rates against an upstream with
50 ms latency; streaming time to first byte at 1 connection. Configurations run
interleaved, rotating the order each repetition, and the table shows medians
over repetitions. Finally a dedicated gateway takes 1000 req/s for 60 s, is
stopped with SIGTERM, and its stored records are counted against the responses
the client saw and the dropped-records counter from /metrics.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYTHON = sys.executable
LUA = HERE / "lua" / "chat.lua"
SERVER_CORE = 0  # the proxy under test
LOAD_CORE = 1  # mock upstreams, wrk, the open-loop client, this script
CONFIGS = ("direct", "bare", "gateway")
PATH = "/v1/chat/completions"
CLK_TCK = os.sysconf("SC_CLK_TCK")
FOREIGN_LIMIT = 0.05  # a run during which others used more CPU (in cores) is run again


@dataclass(frozen=True)
class Plan:
    reps: int  # repetitions of every closed-loop, TTFB and rate measurement
    closed_s: int  # wrk takes whole seconds
    ttfb_s: float
    rate_reps: int
    rate_s: float
    rate_warmup_s: float
    rates: tuple[int, ...]
    drop_rate: int
    drop_s: float
    latency_ms: float  # upstream latency for the fixed-rate runs and the drop check
    retry_s: float  # time allowed for running again what other processes disturbed


FULL = Plan(
    reps=3, closed_s=4, ttfb_s=3, rate_reps=3, rate_s=3, rate_warmup_s=0.5,
    rates=(100, 500, 1000), drop_rate=1000, drop_s=60, latency_ms=50, retry_s=40,
)  # fmt: skip
QUICK = Plan(
    reps=2, closed_s=2, ttfb_s=1, rate_reps=1, rate_s=1, rate_warmup_s=0.3,
    rates=(100, 500, 1000), drop_rate=1000, drop_s=8, latency_ms=50, retry_s=4,
)  # fmt: skip


# -- processes -------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    core: int
    popen: subprocess.Popen[bytes]
    log: Path
    url: str

    @property
    def pid(self) -> int:
        return self.popen.pid

    def cpu_s(self, main_thread: bool = False) -> float:
        """User + system CPU seconds of the process (all threads, or the main one)."""
        stat = f"/proc/{self.pid}/task/{self.pid}/stat" if main_thread else f"/proc/{self.pid}/stat"
        return pid_cpu_s(stat)

    def helpers(self) -> list[int]:
        """Its child processes: for `saferollout serve`, the record-writer process."""
        out = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                    if int(stat[1]) == self.pid:
                        out.append(int(entry.name))
        return out

    def helpers_cpu_s(self) -> float:
        total = 0.0
        for pid in self.helpers():
            with contextlib.suppress(OSError, IndexError, ValueError):
                total += pid_cpu_s(f"/proc/{pid}/stat")
        return total

    def log_tail(self, n: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        return ""


def pid_cpu_s(stat: str) -> float:
    """User + system CPU seconds from a /proc/.../stat file."""
    fields = Path(stat).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Processes:
    """Every process the benchmark starts, each in its own process group."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.procs: list[Proc] = []

    def start(self, name: str, argv: list[str], core: int, url: str) -> Proc:
        log = self.logdir / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                ["taskset", "-c", str(core), *argv],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own group: we signal the group
                cwd=ROOT,
            )
        proc = Proc(name, core, popen, log, url)
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc, timeout: float = 10.0) -> tuple[int | None, float]:
        """SIGTERM the group, wait, SIGKILL if needed; (exit code, seconds to exit)."""
        started = time.perf_counter()
        if proc.popen.poll() is not None:  # already gone (and reaped): its group id is stale
            return proc.popen.returncode, 0.0
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.popen.wait(5)
        return proc.popen.returncode, time.perf_counter() - started

    def alive(self) -> list[Proc]:
        return [p for p in self.procs if p.popen.poll() is None]

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc, timeout=5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(proc: Proc, probe: str | None, timeout: float = 30.0) -> None:
    """Until a TCP connect (probe None) or GET probe answers 200."""
    port = int(proc.url.rsplit(":", 1)[1])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(
                f"{proc.name} exited with {proc.popen.returncode}:\n{proc.log_tail()}"
            )
        try:
            if probe is None:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return
            else:
                with urllib.request.urlopen(proc.url + probe, timeout=1) as r:
                    if r.status == 200:
                        return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{proc.name} not ready after {timeout:.0f}s:\n{proc.log_tail()}")


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found: installing the Debian package (apt-get install -y wrk)", flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*sudo, "apt-get", "install", "-y", "-q", "wrk"]
    if subprocess.run(install, env=env, stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run([*sudo, "apt-get", "update", "-q"], env=env, check=True)
        subprocess.run(install, env=env, check=True, stdout=subprocess.DEVNULL)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk could not be installed")
    return found


def core_times() -> dict[int, tuple[int, int]]:
    """(busy, total) jiffies per core from /proc/stat."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3].isdigit():
            name, *values = line.split()
            v = [int(x) for x in values]
            idle = v[3] + v[4]
            out[int(name[3:])] = (sum(v[:8]) - idle, sum(v[:8]))
    return out


def idle_check(seconds: float = 1.0) -> dict[int, float]:
    """Each core's busy share while nothing of ours runs: other load skews every figure."""
    before = core_times()
    time.sleep(seconds)
    after = core_times()
    return {
        core: (after[core][0] - before[core][0]) / max(after[core][1] - before[core][1], 1)
        for core in after
    }


def cpu_of(procs: list[Proc]) -> dict[int, float]:
    """CPU seconds of each of our processes and their children (the record writers)."""
    out = {}
    for proc in procs:
        with contextlib.suppress(OSError, IndexError, ValueError):
            out[proc.pid] = proc.cpu_s()
        for pid in proc.helpers():
            with contextlib.suppress(OSError, IndexError, ValueError):
                out[pid] = pid_cpu_s(f"/proc/{pid}/stat")
    return out


def own_cpu_s() -> float:
    """CPU of this script and of its finished children (wrk, _openloop.py)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


@contextlib.contextmanager
def cpu_meter(server: Proc, ours: list[Proc]) -> Iterator[dict[str, float]]:
    """The server's CPU seconds, each core's busy share, and the CPU used by others.

    `foreign` is the CPU (in cores) that the two cores spent on anything but
    the benchmark's own processes (`ours`, this script and its children),
    steal time included: on a shared machine it says which runs to distrust.
    """
    out: dict[str, float] = {}
    cores0, procs0, own0 = core_times(), cpu_of(ours), own_cpu_s()
    server0, main0, t0 = server.cpu_s(), server.cpu_s(main_thread=True), time.perf_counter()
    helpers0 = server.helpers_cpu_s()
    yield out
    cores1, procs1, own1, server1 = core_times(), cpu_of(ours), own_cpu_s(), server.cpu_s()
    wall = time.perf_counter() - t0
    # The gateway's record-writer process counts as the gateway's: its work is per request.
    out["writer_process_cpu_s"] = server.helpers_cpu_s() - helpers0
    out["server_cpu_s"] = server1 - server0 + out["writer_process_cpu_s"]
    # The rest is the server's other threads: the writer's sender and the controller.
    out["server_main_thread_cpu_s"] = server.cpu_s(main_thread=True) - main0
    out["wall_s"] = wall
    busy_s = 0.0
    for core in (SERVER_CORE, LOAD_CORE):
        busy = cores1[core][0] - cores0[core][0]
        total = cores1[core][1] - cores0[core][1]
        out[f"core{core}_busy"] = busy / total if total else 0.0
        busy_s += busy / CLK_TCK
    ours_s = own1 - own0 + sum(procs1[pid] - procs0[pid] for pid in procs1 if pid in procs0)
    out["foreign"] = max(busy_s - ours_s, 0.0) / wall


# -- load generators ---------------------------------------------------------------


def run_wrk(wrk: str, url: str, connections: int, seconds: int) -> dict[str, Any]:
    argv = ["taskset", "-c", str(LOAD_CORE), wrk, "-t1", f"-c{connections}", f"-d{seconds}s"]
    argv += ["--timeout", "10s", "-s", str(LUA), url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")
    w = orjson.loads(line[8:])
    errors = w["err_connect"] + w["err_read"] + w["err_write"] + w["err_timeout"]
    return {
        "requests": w["requests"],
        "rps": w["requests"] / (w["duration_us"] / 1e6),
        "p50_ms": w["p50_us"] / 1000,
        "p90_ms": w["p90_us"] / 1000,
        "p99_ms": w["p99_us"] / 1000,
        "non2xx": w["err_status"],
        "errors": errors,
    }


def run_openloop(mode: str, url: str, **opts: float) -> dict[str, Any]:
    argv = ["taskset", "-c", str(LOAD_CORE), PYTHON, str(HERE / "_openloop.py"), mode, "--url", url]
    for key, value in opts.items():
        argv += ["--" + key.replace("_", "-"), str(value)]
    limit = opts.get("duration", 10) + opts.get("warmup", 0) + 90
    done = subprocess.run(argv, capture_output=True, text=True, timeout=limit)
    if done.returncode != 0:
        raise RuntimeError(f"_openloop.py {mode} failed:\n{done.stderr}")
    result: dict[str, Any] = orjson.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- the gateway ---------------------------------------------------------------------


def serve_flags(saferollout: list[str]) -> list[str]:
    """`--no-scoring` where `serve` has it: the scoring worker is a process of its own,
    off the request path, that would otherwise share core 0 with the gateway. The
    preflight gate is skipped where `serve` has one: the bench's candidate is a mock."""
    done = subprocess.run([*saferollout, "serve", "--help"], capture_output=True, text=True)
    flags = ["--no-scoring", "--force-without-preflight"]
    return [f for f in flags if f in done.stdout]


def write_gateway_config(tmp: Path, name: str, upstream: str, port: int) -> tuple[Path, Path]:
    db = tmp / f"{name}.db"
    path = tmp / f"{name}.yaml"
    versions = "".join(
        f"  {v}:\n    url: {upstream}/v1\n    model: bench-{v}\n    max_connections: 256\n"
        for v in ("stable", "candidate")
    )
    path.write_text(
        f"# Generated by bench/gateway.py.\nname: bench-{name}\nversions:\n{versions}"
        "stable: stable\ncandidate: candidate\n"
        "strategy:\n  type: canary\n  steps:\n"
        "    - weight: 10                # candidate share: every request is hashed and routed\n"
        "      pause: {requests: 1000000000}\n"
        f"storage:\n  url: sqlite:///{db}   # record writing on\n"
        f"server:\n  host: 127.0.0.1\n  port: {port}\n"
        "logging:\n  redact: none\n"
        "retry_on_stable: true\n"
    )
    return path, db


def scrape_metrics(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("saferollout_record") and " " in line:
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def count_records(db: Path) -> tuple[int, dict[str, int], dict[str, int]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        total = conn.execute("SELECT count(*) FROM interactions").fetchone()[0]
        by_version = dict(
            conn.execute("SELECT version, count(*) FROM interactions GROUP BY version").fetchall()
        )
        by_status = {
            str(code): n
            for code, n in conn.execute(
                "SELECT status_code, count(*) FROM interactions GROUP BY status_code"
            )
        }
    finally:
        conn.close()
    return int(total), by_version, by_status


# -- the benchmark -----------------------------------------------------------------


@dataclass
class Run:
    phase: str  # "closed" | "ttfb" | "rate"
    load: str  # "1 conn", "16 conn", "stream 1 conn", "100/s", ...
    config: str
    rep: int
    rps: float
    p50_ms: float
    p99_ms: float
    server_cpu_us_per_req: float
    core0_busy: float
    core1_busy: float
    foreign: float  # CPU (in cores) used by other processes during the run
    attempts: int
    raw: dict[str, Any] = field(default_factory=dict)


def rotated(rep: int) -> list[str]:
    k = rep % len(CONFIGS)
    return list(CONFIGS[k:] + CONFIGS[:k])


class Bench:
    def __init__(
        self, plan: Plan, tmp: Path, wrk: str, saferollout: list[str], writer_core: int
    ) -> None:
        self.plan = plan
        self.writer_core = writer_core
        self.tmp = tmp
        self.wrk = wrk
        self.saferollout = saferollout
        self.procs = Processes(tmp)
        self.runs: list[Run] = []
        self.servers: dict[str, dict[str, Proc]] = {}  # phase group -> config -> process
        self.retry_left_s = plan.retry_s
        self.retried = 0
        self.serve_flags = serve_flags(saferollout)
        self.dbs: dict[str, Path] = {}

    # processes

    def start_mock(self, name: str, latency_ms: float) -> Proc:
        port = free_port()
        argv = [PYTHON, str(HERE / "mock_upstream.py"), "--port", str(port)]
        argv += ["--latency-ms", str(latency_ms)]
        return self.procs.start(name, argv, LOAD_CORE, f"http://127.0.0.1:{port}")

    def start_bare(self, name: str, upstream: Proc) -> Proc:
        port = free_port()
        argv = [
            PYTHON,
            str(HERE / "bare_proxy.py"),
            "--port",
            str(port),
            "--upstream",
            upstream.url,
        ]
        return self.procs.start(name, argv, SERVER_CORE, f"http://127.0.0.1:{port}")

    def start_gateway(self, name: str, upstream: Proc) -> tuple[Proc, Path]:
        port = free_port()
        config, db = write_gateway_config(self.tmp, name, upstream.url, port)
        argv = [*self.saferollout, "serve", "-c", str(config), *self.serve_flags]
        return self.procs.start(name, argv, SERVER_CORE, f"http://127.0.0.1:{port}"), db

    def start_all(self) -> None:
        mock0 = self.start_mock("mock-0ms", 0)
        mock50 = self.start_mock(f"mock-{self.plan.latency_ms:g}ms", self.plan.latency_ms)
        for p in (mock0, mock50):
            wait_ready(p, "/v1/models")
        bare0, bare50 = self.start_bare("bare-0ms", mock0), self.start_bare("bare-50ms", mock50)
        (gw0, db0), (gw50, db50) = (
            self.start_gateway("gw-0ms", mock0),
            self.start_gateway("gw-50ms", mock50),
        )
        self.dbs = {"fast": db0, "slow": db50}
        for p in (bare0, bare50):
            wait_ready(p, None)
        for p in (gw0, gw50):
            wait_ready(p, "/healthz")
            self.place_writer(p)
        banner = next((x for x in gw0.log_tail(50).splitlines() if "gateway on" in x), "")
        print(f"gateway: saferollout serve {' '.join(self.serve_flags)}: {banner.strip()}")
        self.servers["fast"] = {"direct": mock0, "bare": bare0, "gateway": gw0}
        self.servers["slow"] = {"direct": mock50, "bare": bare50, "gateway": gw50}

    def place_writer(self, gateway: Proc) -> None:
        """The record-writer process starts on the gateway's core; move it if asked."""
        deadline = time.monotonic() + 10
        while not gateway.helpers() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not gateway.helpers():
            print(f"note: {gateway.name} has no record-writer process (an older build?)")
        for pid in gateway.helpers():
            os.sched_setaffinity(pid, {self.writer_core})

    # measurements

    def rows_note(self, group: str) -> None:
        """The gateway's table size: its controller re-reads it every interval_s."""
        with contextlib.suppress(sqlite3.Error, OSError):
            rows = count_records(self.dbs[group])[0]
            print(f"  (the gateway's database now holds {rows} interaction rows)", flush=True)

    def measure(self, server: Proc, load: Callable[..., dict], *args: Any, **kw: Any) -> tuple:
        """Run `load(*args, **kw)`; again (within the retry budget) if others used the CPU."""
        best: tuple[dict, dict] | None = None
        attempts = 0
        while True:
            attempts += 1
            with cpu_meter(server, self.procs.alive()) as cpu:
                r = load(*args, **kw)
            if best is None or cpu["foreign"] < best[1]["foreign"]:
                best = (r, cpu)
            if cpu["foreign"] <= FOREIGN_LIMIT or self.retry_left_s <= 0 or attempts >= 3:
                break
            self.retried += 1
            started = time.perf_counter()
            self.wait_quiet(3.0)
            self.retry_left_s -= cpu["wall_s"] + time.perf_counter() - started
        best[1]["attempts"] = attempts
        return best

    def wait_quiet(self, limit_s: float) -> None:
        """Until others leave the cores alone for half a second, or `limit_s` passed."""
        deadline = time.perf_counter() + limit_s
        while time.perf_counter() < deadline:
            with cpu_meter(self.procs.procs[0], self.procs.alive()) as cpu:
                time.sleep(0.5)
            if cpu["foreign"] <= FOREIGN_LIMIT:
                return

    def record(self, phase: str, load: str, config: str, rep: int, r: dict, cpu: dict) -> Run:
        served = r["served"]
        run = Run(
            phase=phase,
            load=load,
            config=config,
            rep=rep,
            rps=r["rps"],
            p50_ms=r["p50_ms"],
            p99_ms=r["p99_ms"],
            server_cpu_us_per_req=cpu["server_cpu_s"] / served * 1e6 if served else math.nan,
            core0_busy=cpu[f"core{SERVER_CORE}_busy"],
            core1_busy=cpu[f"core{LOAD_CORE}_busy"],
            foreign=cpu["foreign"],
            attempts=int(cpu["attempts"]),
            raw={**r, **cpu},
        )
        self.runs.append(run)
        where = "core 0" if config != "direct" else "core 1"
        if config == "gateway" and served:
            main_us = cpu["server_main_thread_cpu_s"] / served * 1e6
            writer_us = cpu["writer_process_cpu_s"] / served * 1e6
            where += f"; event loop {main_us:.0f}, writer {writer_us:.0f} on c{self.writer_core}"
        print(
            f"  {phase:6} {load:14} {config:8} rep {rep + 1}: {run.rps:8.0f} req/s  "
            f"p50 {run.p50_ms:7.3f} ms  p99 {run.p99_ms:7.3f} ms  "
            f"server CPU {run.server_cpu_us_per_req:5.0f} us/req ({where})  "
            f"busy c0 {run.core0_busy:4.0%} c1 {run.core1_busy:4.0%}  "
            f"others {run.foreign:4.0%}"
            + (f" (least disturbed of {run.attempts})" if run.attempts > 1 else ""),
            flush=True,
        )
        if r.get("errors") or r.get("non2xx"):
            print(f"    ! errors {r.get('errors')} non-2xx {r.get('non2xx')}", flush=True)
        return run

    def closed_loop(self) -> None:
        servers = self.servers["fast"]
        print(f"\nclosed loop (wrk), upstream latency 0 ms, {self.plan.closed_s} s per run")
        for config in CONFIGS:  # warm pools and caches once
            run_wrk(self.wrk, servers[config].url + PATH, 16, 1)
        for rep in range(self.plan.reps):
            for connections in (1, 16):
                for config in rotated(rep):
                    server = servers[config]
                    url = server.url + PATH
                    r, cpu = self.measure(
                        server, run_wrk, self.wrk, url, connections, self.plan.closed_s
                    )
                    r["served"] = r["requests"]
                    self.record("closed", f"{connections} conn", config, rep, r, cpu)

    def ttfb(self) -> None:
        servers = self.servers["fast"]
        print(f"\nstreaming time to first byte, 1 connection, {self.plan.ttfb_s:g} s per run")
        for rep in range(self.plan.reps):
            for config in rotated(rep):
                server = servers[config]
                url = server.url + PATH
                r, cpu = self.measure(
                    server, run_openloop, "ttfb", url, duration=self.plan.ttfb_s, warmup=0.3
                )
                r["rps"] = r["requests"] / self.plan.ttfb_s
                r["served"] = r["requests"]
                r["errors"] = r["bad"]
                self.record("ttfb", "stream 1 conn", config, rep, r, cpu)

    def fixed_rates(self) -> None:
        servers = self.servers["slow"]
        p = self.plan
        print(
            f"\nopen loop at fixed rates (_openloop.py), upstream latency {p.latency_ms:g} ms, "
            f"{p.rate_s:g} s per run"
        )
        for rep in range(p.rate_reps):
            for rate in p.rates:
                for config in rotated(rep):
                    server = servers[config]
                    url = server.url + PATH
                    r, cpu = self.measure(
                        server, run_openloop, "rate", url,
                        rate=rate, duration=p.rate_s, warmup=p.rate_warmup_s, timeout=10,
                    )  # fmt: skip
                    r["rps"] = r["throughput"]
                    r["served"] = r["responses_total"]
                    r["errors"] = sum(r["errors"].values())
                    r["non2xx"] = r["responses_total"] - r["ok_total"]
                    self.record("rate", f"{rate}/s", config, rep, r, cpu)

    def drop_check(self) -> dict[str, Any]:
        p = self.plan
        # A fresh gateway and database, so the rows counted are this run's only.
        for group in self.servers.values():
            for config in ("bare", "gateway"):
                self.procs.stop(group[config])
        upstream = self.servers["slow"]["direct"]
        gw, db = self.start_gateway("gw-dropcheck", upstream)
        wait_ready(gw, "/healthz")
        self.place_writer(gw)
        print(
            f"\nzero dropped records: {p.drop_rate} req/s for {p.drop_s:g} s through a fresh "
            f"gateway (upstream latency {p.latency_ms:g} ms), then SIGTERM"
        )
        with cpu_meter(gw, self.procs.alive()) as cpu:
            r = run_openloop(
                "rate", gw.url + PATH, rate=p.drop_rate, duration=p.drop_s, warmup=0, timeout=30
            )
        metrics = scrape_metrics(gw.url)
        code, stop_s = self.procs.stop(gw, timeout=120)
        rows, by_version, by_status = count_records(db)
        dropped = metrics.get("saferollout_records_dropped_total", math.nan)
        # The gateway logs its writer's totals on shutdown, after the scrape.
        final = re.search(r"records written: (\d+), dropped: (\d+)", gw.log_tail(200))
        dropped_at_exit = int(final.group(2)) if final else None
        result = {
            "rate_target": p.drop_rate,
            "seconds": p.drop_s,
            "achieved_rps": r["throughput"],
            "p50_ms": r["p50_ms"],
            "p99_ms": r["p99_ms"],
            "sent": r["sent"],
            "responses": r["responses_total"],
            "responses_2xx": r["ok_total"],
            "client_errors": r["errors"],
            "records_written": rows,
            "records_by_version": by_version,
            "records_by_status": by_status,
            "dropped_metric": dropped,
            "written_metric_before_stop": metrics.get("saferollout_records_written_total"),
            "queue_depth_before_stop": metrics.get("saferollout_record_queue_depth"),
            "gateway_exit_code": code,
            "shutdown_s": stop_s,
            "server_cpu_us_per_req": cpu["server_cpu_s"] / max(r["responses_total"], 1) * 1e6,
            "others_cpu": cpu["foreign"],
            "writer_process_cpu_us_per_req": cpu["writer_process_cpu_s"]
            / max(r["responses_total"], 1)
            * 1e6,
            "main_thread_cpu_us_per_req": cpu["server_main_thread_cpu_s"]
            / max(r["responses_total"], 1)
            * 1e6,
        }
        result["dropped_logged_at_exit"] = dropped_at_exit
        # The target: none dropped, and every request answered has exactly its row.
        result["passed"] = bool(
            dropped == 0 and dropped_at_exit in (0, None) and rows == r["responses_total"]
        )
        # Whether the gateway kept up: every request sent answered 2xx, at 95% of the rate.
        result["load_served"] = bool(
            r["ok_total"] == r["sent"] and r["throughput"] >= 0.95 * p.drop_rate
        )
        print(
            f"  served {r['responses_total']} ({r['ok_total']} 2xx, {r['throughput']:.0f} req/s, "
            f"p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, client errors {r['errors']}); "
            f"records written {rows} {by_version}; dropped (metric) {dropped:g}; "
            f"gateway exit {code} after {stop_s:.1f} s; others used {cpu['foreign']:.0%} "
            "of a core; "
            f"gateway CPU {result['server_cpu_us_per_req']:.0f} us/req, of which event-loop "
            f"thread {result['main_thread_cpu_us_per_req']:.0f}, record-writer process "
            f"{result['writer_process_cpu_us_per_req']:.0f} (the rest: the writer's sender "
            "thread, the controller)",
            flush=True,
        )
        return result


# -- the report ------------------------------------------------------------------------

LOAD_ORDER = ("1 conn", "16 conn", "stream 1 conn")


def summarize(runs: list[Run]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.load, run.config), []).append(run)

    def med(load: str, config: str, attr: str) -> float:
        rs = groups.get((load, config), [])
        return statistics.median(getattr(r, attr) for r in rs) if rs else math.nan

    loads = sorted(
        {load for load, _ in groups},
        key=lambda x: (LOAD_ORDER.index(x), 0) if x in LOAD_ORDER else (9, int(x.split("/")[0])),
    )
    rows = []
    for load in loads:
        for config in CONFIGS:
            if (load, config) not in groups:
                continue
            rs = groups[(load, config)]
            p50 = med(load, config, "p50_ms")
            rows.append(
                {
                    "load": load,
                    "config": config,
                    "phase": rs[0].phase,
                    "reps": len(rs),
                    "rps": med(load, config, "rps"),
                    "p50_ms": p50,
                    "p99_ms": med(load, config, "p99_ms"),
                    "added_p50_ms": p50 - med(load, "direct", "p50_ms"),
                    "ratio_vs_bare": med(load, config, "rps") / med(load, "bare", "rps"),
                    "server_cpu_us_per_req": med(load, config, "server_cpu_us_per_req"),
                    "others_cpu": med(load, config, "foreign"),
                }
            )
    return rows


def find(rows: list[dict[str, Any]], load: str, config: str) -> dict[str, Any]:
    return next((r for r in rows if r["load"] == load and r["config"] == config), {})


def targets(rows: list[dict[str, Any]], drop: dict[str, Any] | None, plan: Plan) -> list[dict]:
    out = []

    def add(name: str, value: float, limit: float, passed: bool, unit: str, note: str = "") -> None:
        out.append(
            {"target": name, "value": value, "limit": limit, "unit": unit,
             "passed": passed, "note": note}
        )  # fmt: skip

    gw1 = find(rows, "1 conn", "gateway").get("added_p50_ms", math.nan)
    bare1 = find(rows, "1 conn", "bare").get("added_p50_ms", math.nan)
    add(
        "added latency p50 at 1 connection", gw1, 0.5, gw1 <= 0.5, "ms",
        f"bare adds {bare1:.3f} ms; gateway - bare {gw1 - bare1:+.3f} ms",
    )  # fmt: skip
    ratio = find(rows, "16 conn", "gateway").get("ratio_vs_bare", math.nan)
    bare16 = find(rows, "16 conn", "bare").get("rps", math.nan)
    add(
        "throughput at 16 connections vs bare", ratio * 100, 70, ratio >= 0.70, "%",
        f"bare: {bare16:.0f} req/s",
    )  # fmt: skip
    gws = find(rows, "stream 1 conn", "gateway").get("added_p50_ms", math.nan)
    bares = find(rows, "stream 1 conn", "bare").get("added_p50_ms", math.nan)
    add(
        "streaming TTFB added (p50)", gws, 0.5, gws <= 0.5, "ms",
        f"bare adds {bares:.3f} ms; gateway - bare {gws - bares:+.3f} ms",
    )  # fmt: skip
    if drop is not None:
        note = (
            f"{drop['responses']} answered of {drop['sent']} sent, "
            f"{drop['records_written']} rows, {drop['dropped_metric']:g} dropped, "
            f"{drop['achieved_rps']:.0f} req/s"
        )
        if not drop["load_served"]:
            note += (
                f"; LOAD NOT FULLY SERVED: p99 {drop['p99_ms']:.0f} ms, "
                f"client errors {drop['client_errors'] or 'none'}"
            )
        if plan.drop_s < 60:
            note += f" (--quick: {plan.drop_s:g} s, not 60 s)"
        add(
            f"0 dropped records at {plan.drop_rate} req/s for {plan.drop_s:g} s",
            drop["dropped_metric"], 0, drop["passed"], "records", note,
        )  # fmt: skip
    return out


def print_report(rows: list[dict[str, Any]], goals: list[dict], drop: dict | None) -> None:
    head = (
        f"{'config':8} {'load':14} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'added p50':>10} {'vs bare':>8} {'CPU us/req':>10} {'others':>6}"
    )
    print("\nresults (medians over repetitions; added p50 = config p50 - direct p50)")
    print(head)
    print("-" * len(head))
    last = None
    for r in rows:
        if last is not None and r["load"] != last:
            print()
        last = r["load"]
        added = "" if r["config"] == "direct" else f"{r['added_p50_ms']:+.3f}"
        print(
            f"{r['config']:8} {r['load']:14} {r['rps']:8.0f} {r['p50_ms']:8.3f} "
            f"{r['p99_ms']:8.3f} {added:>10} {r['ratio_vs_bare']:8.2f} "
            f"{r['server_cpu_us_per_req']:10.0f} {r['others_cpu']:6.0%}"
        )
    print(
        "\nload: N conn = wrk closed loop, upstream 0 ms; stream = SSE time to first byte "
        "(p50/p99 are TTFB);\nN/s = open loop at N req/s, upstream 50 ms. CPU us/req = CPU "
        "of the process serving the config\n(mock upstream for direct, on core 1; the proxy "
        "for bare and gateway, on core 0).\nothers = CPU (share of one core) used by "
        "processes not ours during the runs; runs above "
        f"{FOREIGN_LIMIT:.0%} are run again while time allows."
    )
    if drop is not None:
        print(
            f"\nrecords at {drop['rate_target']} req/s for {drop['seconds']:g} s: "
            f"sent {drop['sent']}, served {drop['responses']} ({drop['responses_2xx']} 2xx), "
            f"written {drop['records_written']}, dropped {drop['dropped_metric']:g} "
            f"(saferollout_records_dropped_total before SIGTERM)"
        )
    print("\ntargets")
    for g in goals:
        verdict = "PASS" if g["passed"] else "MISS"
        limit = "<=" if g["unit"] != "%" else ">="
        print(
            f"  {verdict}  {g['target']:42} {g['value']:8.3f} {g['unit']:7} "
            f"({limit} {g['limit']:g}; {g['note']})"
        )


def environment(wrk: str, saferollout: list[str]) -> dict[str, Any]:
    def out(argv: list[str]) -> str:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=10, cwd=ROOT)
            return (done.stdout or done.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "?"

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    versions = out(
        [
            PYTHON, "-c",
            "import aiohttp, uvloop, orjson; "
            "print(f'aiohttp {aiohttp.__version__}, uvloop {uvloop.__version__}, "
            "orjson {orjson.__version__}')",
        ]
    )  # fmt: skip
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "libraries": versions,
        "wrk": out([wrk, "--version"]),
        "saferollout": " ".join(saferollout),
        "tree": out(["git", "describe", "--always", "--dirty"]),
    }


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a shorter run, under 90 s")
    parser.add_argument("--json", metavar="OUT", help="write every run and the summary to OUT")
    parser.add_argument("--reps", type=int, help="repetitions per measurement (default 3, quick 2)")
    parser.add_argument(
        "--saferollout",
        default=str(Path(PYTHON).parent / "saferollout"),
        help="command that runs saferollout (default: the one beside this Python)",
    )
    parser.add_argument("--no-drop-check", action="store_true", help="skip the records check")
    parser.add_argument(
        "--nice",
        type=int,
        default=-20,
        help="niceness of the benchmark and everything it starts (default -20, needs root: "
        "on a shared machine other load then takes CPU only when the benchmark leaves it)",
    )
    parser.add_argument("--keep-tmp", action="store_true", help="keep configs, logs and databases")
    parser.add_argument(
        "--writer-core",
        type=int,
        choices=(SERVER_CORE, LOAD_CORE),
        default=SERVER_CORE,
        help=f"core of the gateway's record-writer process (default {SERVER_CORE}: with the "
        f"gateway, so the gateway's figures are all on one core; {LOAD_CORE}: beside the load, "
        "as a database server would be)",
    )
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    if args.reps:
        plan = Plan(**{**asdict(plan), "reps": args.reps, "rate_reps": args.reps})
    if len(os.sched_getaffinity(0) | {SERVER_CORE, LOAD_CORE}) < 2 or (os.cpu_count() or 1) < 2:
        raise SystemExit("needs 2 cores: the proxy on core 0, the load on core 1")
    if not shutil.which("taskset"):
        raise SystemExit("needs taskset (util-linux)")
    wrk = ensure_wrk()
    os.sched_setaffinity(0, {LOAD_CORE})  # this script stays off the proxy's core
    try:  # children inherit it: mock, proxies, wrk, the open-loop client
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)
    except PermissionError:
        print(f"note: cannot set niceness {args.nice} (not root); running at {os.nice(0)}")
    saferollout = shlex.split(args.saferollout)
    env = environment(wrk, saferollout)
    started = time.perf_counter()
    print(f"{env['cpu']}, {env['cores']} cores; Python {env['python']}; {env['libraries']}")
    print(f"{env['wrk']}; tree {env['tree']}; niceness {os.getpriority(os.PRIO_PROCESS, 0)}")
    print(
        f"core {SERVER_CORE}: the proxy under test (bare_proxy.py or saferollout serve, one at a "
        f"time under load)\ncore {LOAD_CORE}: mock_upstream.py, wrk, _openloop.py and this script\n"
        f"core {args.writer_core}: the gateway's record-writer process"
    )
    busy = idle_check()
    env["busy_before_start"] = {f"core{c}": b for c, b in busy.items()}
    print("cores busy before start: " + ", ".join(f"core {c} {b:.0%}" for c, b in busy.items()))
    if max(busy.values()) > 0.05:
        print(
            "WARNING: other processes are using the CPU; every figure below is skewed "
            "(interleaving spreads the noise over all configurations, but not evenly)"
        )
    # SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so the finally below stops everything.
    signal.signal(signal.SIGTERM, _interrupt)
    tmp = Path(tempfile.mkdtemp(prefix="saferollout-bench-"))
    bench = Bench(plan, tmp, wrk, saferollout, args.writer_core)
    drop = None
    try:
        bench.start_all()
        bench.closed_loop()
        bench.rows_note("fast")
        bench.ttfb()
        bench.rows_note("fast")
        bench.fixed_rates()
        bench.rows_note("slow")
        if not args.no_drop_check:
            drop = bench.drop_check()
    finally:
        bench.procs.stop_all()
        if args.keep_tmp:
            print(f"\nconfigs, logs and databases kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    rows = summarize(bench.runs)
    goals = targets(rows, drop, plan)
    print_report(rows, goals, drop)
    elapsed = time.perf_counter() - started
    print(f"\nwhole run: {elapsed:.0f} s; runs repeated as others used the CPU: {bench.retried}")
    if args.json:
        Path(args.json).write_bytes(
            orjson.dumps(
                {
                    "environment": {**env, "writer_core": args.writer_core},
                    "plan": asdict(plan),
                    "elapsed_s": elapsed,
                    "summary": rows,
                    "targets": goals,
                    "drop_check": drop,
                    "runs": [asdict(r) for r in bench.runs],
                },
                option=orjson.OPT_INDENT_2,
            )
        )
        print(f"results written to {args.json}")


if __name__ == "__main__":
    main()
