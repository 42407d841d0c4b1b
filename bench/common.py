"""Shared helpers: settings of the run, statistics, subprocesses, PostgreSQL and Redis admin.

Everything talks to 127.0.0.1 only. Every wait is bounded by a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
LOGS = RESULTS / "logs"

PG_ADMIN_DSN = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_HOST_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/"
# Redis databases used by the benchmark only (the test suite uses 9-15).
REDIS_HOOKRELAY_DB = int(os.environ.get("BENCH_REDIS_DB", "7"))
REDIS_PEER_DB = int(os.environ.get("BENCH_PEER_REDIS_DB", "8"))
REDIS_BASE = "redis://127.0.0.1:6379"
DB_PREFIX = "hookrelay_bench_"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- statistics -------------------------------------------------------------------------------


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def percentile(values, q: float):
    """Nearest-rank percentile (q in 0..100) of a list of numbers."""
    values = sorted(values)
    if not values:
        return None
    rank = max(1, min(len(values), int(-(-q * len(values) // 100))))
    return values[rank - 1]


def ratio(a, b):
    if a is None or b in (None, 0):
        return None
    return a / b


# --- processes --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKRELAY_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(overrides)
    return env


@dataclass
class Proc:
    """A subprocess in its own process group, logging to a file."""

    name: str
    popen: subprocess.Popen
    log_path: Path
    started: float = field(default_factory=time.time)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 15.0, *, group: bool = True) -> None:
        """SIGTERM (to the whole process group, or to the leader only), SIGKILL to the group
        after ``timeout``. A Dramatiq master wants the signal alone: it forwards it to its
        workers itself."""
        if self.popen.poll() is not None:
            return
        try:
            if group:
                os.killpg(self.popen.pid, signal.SIGTERM)
            else:
                os.kill(self.popen.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.popen.wait(timeout=10)
        # nothing of the group may outlive its leader
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def spawn(name: str, argv: list[str], *, env: dict[str, str], log_dir: Path, stdout=None) -> Proc:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    handle = open(log_path, "wb")
    popen = subprocess.Popen(
        argv,
        env=env,
        cwd=ROOT,
        stdout=stdout if stdout is not None else handle,
        stderr=handle,
        start_new_session=True,
    )
    return Proc(name, popen, log_path)


def http_json(url: str, *, method: str = "GET", body: dict | None = None, headers: dict | None = None,
              timeout: float = 10.0) -> tuple[int, dict | list | None]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            return response.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, {"raw": raw.decode(errors="replace")}


def wait_http(url: str, *, timeout: float = 30.0, proc: Proc | None = None) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.name} exited early:\n{proc.tail()}")
        try:
            status, _ = http_json(url, timeout=1.0)
            if status == 200:
                return
            last = status
        except OSError as exc:
            last = exc
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout}s (last: {last})" + (f"\n{proc.tail()}" if proc else ""))


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def descendants(pid: int) -> list[int]:
    """All descendant pids (reads /proc; children of children included)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        ppid = parent_pid(int(entry.name))
        if ppid is not None:
            children.setdefault(ppid, []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the parenthesised command name (which may itself
    hold spaces and parentheses), from the state on; None if the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def parent_pid(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else None


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


# --- PostgreSQL and Redis admin -------------------------------------------------------------


def pg_admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as connection:
        connection.execute(sql)


def checkpoint() -> float:
    """Write PostgreSQL's dirty buffers out now; returns the seconds it took. Each scenario starts
    with one, so that none pays for writing back the pages of the one before it (a scenario
    writes more than the 128 MiB of shared buffers hold)."""
    started = time.monotonic()
    pg_admin("CHECKPOINT")
    return time.monotonic() - started


def database_url(name: str) -> str:
    return PG_HOST_URL + name


def libpq_dsn(name: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def recreate_database(name: str) -> None:
    pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    pg_admin(f"CREATE DATABASE {name}")


def drop_database(name: str) -> None:
    pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def redis_url(db: int) -> str:
    return f"{REDIS_BASE}/{db}"


def flush_redis(db: int) -> None:
    import redis

    client = redis.Redis.from_url(redis_url(db))
    try:
        client.flushdb()
    finally:
        client.close()


def versions() -> dict:
    import importlib.metadata as md
    import platform

    names = ["hookrelay", "litestar", "uvicorn", "sqlalchemy", "psycopg", "dramatiq", "redis", "httpx",
             "aiohttp", "msgspec", "uvloop"]
    found = {}
    for name in names:
        try:
            found[name] = md.version(name)
        except md.PackageNotFoundError:
            found[name] = None
    try:
        found["psycopg_pool"] = md.version("psycopg-pool")
    except md.PackageNotFoundError:
        found["psycopg_pool"] = None
    found["python"] = platform.python_version()
    with psycopg.connect(PG_ADMIN_DSN) as connection:
        found["postgresql"] = connection.execute("SHOW server_version").fetchone()[0]
    import redis

    client = redis.Redis.from_url(redis_url(0))
    try:
        found["redis_server"] = client.info("server").get("redis_version")
    finally:
        client.close()
    try:
        out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=5)
        found["wrk"] = (out.stdout + out.stderr).split("[")[0].strip()
    except (OSError, subprocess.TimeoutExpired):
        found["wrk"] = None
    found["git_commit"] = os.environ.get("BENCH_GIT_COMMIT")
    found["src_modified"] = None
    if not found["git_commit"]:
        try:
            out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True, timeout=5)
            found["git_commit"] = out.stdout.strip() or None
            out = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src", "alembic"],
                                 capture_output=True, text=True, timeout=5)
            found["src_modified"] = bool(out.stdout.strip()) if out.returncode == 0 else None
        except (OSError, subprocess.TimeoutExpired):
            pass
    return found


_CPU_ID_FIELDS = {"model name": "cpu_model", "cpu family": "cpu_family", "model": "cpu_model_number",
                  "stepping": "cpu_stepping"}


def _cpu_identity() -> dict:
    """The first processor's name, family, model and stepping: hosts that all call themselves
    "AMD EPYC" differ by these (and by how fast they are: ``python_loop_ms``)."""
    found: dict = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            name, _, value = line.partition(":")
            key = _CPU_ID_FIELDS.get(name.strip())
            if key is not None and key not in found:
                found[key] = value.strip()
            if not line.strip() and found:  # the end of the first processor's block
                break
    except OSError:
        pass
    return found


def python_loop_ms(rounds: int = 5) -> float:
    """How long this host takes for a fixed pure-Python loop (median of ``rounds``): a rough
    single-core speed, so that runs on different hosts can be told apart and compared."""
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        total = 0
        for number in range(1_000_000):
            total += number
        timings.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(timings), 1)


def machine() -> dict:
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // 1024
    except OSError:
        pass
    return {"cpu_count": os.cpu_count(), "cpu_model": None, **_cpu_identity(), "memory_mib": mem,
            "loadavg_at_start": os.getloadavg(), "python_loop_ms": python_loop_ms()}


# --- noise: CPU used by processes this run did not start ----------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_WATCHED = ("pytest", "hookrelay", "dramatiq", "uvicorn", "wrk", "python")


def all_cpus_ticks() -> list[int]:
    """The first line of /proc/stat, all CPUs together, in ``CLK_TCK`` ticks:
    user nice system idle iowait irq softirq steal …"""
    return [int(field) for field in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]


def _stolen_ticks() -> int | None:
    """CPU time the hypervisor gave to other guests while this one wanted it (``steal``)."""
    try:
        return all_cpus_ticks()[7]
    except (OSError, IndexError, ValueError):
        return None


def process_cpu_ticks(pid: int) -> int | None:
    """The CPU time a process has used so far (user + system), in ``CLK_TCK`` ticks; None if
    it is gone."""
    fields = _stat_fields(pid)
    return int(fields[11]) + int(fields[12]) if fields else None  # utime + stime


class NoiseMonitor:
    """Samples, every ``interval`` seconds, the CPU time used by processes outside this run's
    process tree (a test suite, another build: anything that makes figures move). Per phase it
    keeps the foreign CPU-seconds and which kinds of process used them, and the CPU-seconds the
    hypervisor stole (other virtual machines on the same host: on 2026-11-30 figures of the same
    code moved by up to half between two runs ten minutes apart, in a half hour in which the
    host's steal counter grew by 15 CPU-s). PostgreSQL backends are shared and not attributed."""

    def __init__(self, interval: float = 2.0) -> None:
        import threading

        self.interval = interval
        self.phase = "setup"
        self.phases: dict[str, dict] = {}
        self._previous: dict[int, int] = {}
        self._previous_stolen: int | None = None
        # Every pid ever seen in this run's tree: a process whose parent was stopped first (a
        # Dramatiq worker process outliving its master for a moment) is re-parented to init,
        # and must not then count as foreign.
        self._ours: set[int] = {os.getpid()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="noise-monitor", daemon=True)

    def start(self) -> None:
        self._sample(count=False)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sample(count=True)

    def set_phase(self, name: str) -> None:
        self._sample(count=True)
        self.phase = name

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample(count=True)

    def _sample(self, *, count: bool) -> None:
        self._ours.update(descendants(os.getpid()))
        ours = self._ours
        current: dict[int, int] = {}
        phase = self.phases.setdefault(self.phase, {"foreign_cpu_s": 0.0, "by_kind": {}, "stolen_cpu_s": 0.0})
        stolen = _stolen_ticks()
        if count and stolen is not None and self._previous_stolen is not None:
            phase["stolen_cpu_s"] += max(0, stolen - self._previous_stolen) / CLK_TCK
        self._previous_stolen = stolen
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            if pid in ours:
                continue
            ticks = process_cpu_ticks(pid)
            if ticks is None:
                continue
            current[pid] = ticks
            if not count:
                continue
            if pid in self._previous:
                delta = ticks - self._previous[pid]
            else:
                delta = ticks  # started since the last sample
            if delta <= 0:
                continue
            command = cmdline(pid)
            if command.startswith("postgres"):
                continue  # a backend ("postgres: user hookrelay_bench_… ") serves this run
            kind = next((k for k in _WATCHED if k in command), None)
            if kind is None:
                continue  # kernel threads, PostgreSQL, Redis: shared or negligible
            seconds = delta / CLK_TCK
            phase["foreign_cpu_s"] += seconds
            phase["by_kind"][kind] = phase["by_kind"].get(kind, 0.0) + seconds
        self._previous = current

    def report(self) -> dict:
        return {name: {"foreign_cpu_s": round(p["foreign_cpu_s"], 1),
                       "by_kind": {k: round(v, 1) for k, v in sorted(p["by_kind"].items(), key=lambda kv: -kv[1])},
                       "stolen_cpu_s": round(p["stolen_cpu_s"], 1)}
                for name, p in self.phases.items()}


NOISE: NoiseMonitor | None = None


def phase(name: str) -> None:
    """Attribute foreign CPU from now on to ``name`` (no-op without a monitor)."""
    if NOISE is not None:
        NOISE.set_phase(name)
