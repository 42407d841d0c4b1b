"""Processes under test: the hookrelay stack (api, worker, scheduler as in production), the
ceiling app, the receiver, and the Dramatiq peer; each in its own process group."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from hookrelay.cli.servers import COALESCED_WRITES_PROTOCOL

from bench.common import (
    LOGS,
    Proc,
    child_env,
    database_url,
    descendants,
    free_port,
    http_json,
    libpq_dsn,
    log,
    recreate_database,
    redis_url,
    rss_kib,
    spawn,
    wait_http,
)

ADMIN_TOKEN = "bench-admin-token-0123456789abcdef"
SECRET_KEY = "bench-secret-key-0123456789abcdef"


def _hookrelay_argv(*arguments: str) -> list[str]:
    script = Path(sys.executable).parent / "hookrelay"
    if script.exists():
        return [str(script), *arguments]
    return [sys.executable, "-m", "hookrelay", *arguments]


# A booted, idle worker process still grows by about 4 KiB every half second for its first
# 40 s or so (then holds: sampled every 10 s for two minutes, 2026-11-30), so "no growth at all"
# was seen only by chance, and two runs of the bench waited out the whole 30 s. The RSS read at
# the start of the live stack was the same either way (177 MiB for two processes).
BOOTED_RSS_GROWTH_KIB = 64


class Receiver:
    """The shared receiver (bench/receiver.py) in its own process."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = spawn("receiver", [sys.executable, "-m", "bench.receiver", "--port", str(self.port)],
                          env=child_env(), log_dir=log_dir)
        wait_http(self.base + "/_bench/stats", proc=self.proc)

    def url(self, index: int) -> str:
        return f"{self.base}/ep/{index}"

    def reset(self) -> None:
        http_json(self.base + "/_bench/reset", method="POST")

    def stats(self) -> dict:
        return http_json(self.base + "/_bench/stats")[1]

    def arrivals(self) -> dict[str, float]:
        return http_json(self.base + "/_bench/arrivals", timeout=60)[1]

    def wait_for(self, count: int, *, timeout: float, poll: float = 0.2) -> dict:
        deadline = time.monotonic() + timeout
        stats = self.stats()
        while stats["unique"] < count and time.monotonic() < deadline:
            time.sleep(poll)
            stats = self.stats()
        return stats

    def stop(self) -> None:
        self.proc.stop()


class HookrelayStack:
    """api + worker + scheduler against a fresh database (made by ``hookrelay db upgrade``)."""

    def __init__(self, scenario: str, *, api_workers: int, redis_db: int) -> None:
        self.db_name = f"hookrelay_bench_{scenario}"
        self.log_dir = LOGS / scenario
        self.api_workers = api_workers
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.redis_db = redis_db
        self.env = child_env(
            HOOKRELAY_DATABASE_URL=database_url(self.db_name),
            HOOKRELAY_REDIS_URL=redis_url(redis_db),
            HOOKRELAY_ADMIN_TOKEN=ADMIN_TOKEN,
            HOOKRELAY_SECRET_KEY=SECRET_KEY,
            HOOKRELAY_BIND=f"127.0.0.1:{self.port}",
            HOOKRELAY_ALLOW_PRIVATE_TARGETS="true",
            HOOKRELAY_LOG_FORMAT="json",
        )
        self.procs: dict[str, Proc] = {}
        self.app_id: str | None = None
        self.api_key: str | None = None
        self._starts = 0

    @property
    def dsn(self) -> str:
        return libpq_dsn(self.db_name)

    def create_database(self) -> None:
        recreate_database(self.db_name)
        self._run("db-upgrade", "db", "upgrade")
        created = json.loads(self._run("apps-create", "apps", "create", "bench", "--json").strip().splitlines()[-1])
        self.app_id, self.api_key = created["id"], created["api_key"]

    def _run(self, name: str, *arguments: str) -> str:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        out = subprocess.run(_hookrelay_argv(*arguments), env=self.env, capture_output=True, text=True,
                             timeout=120)
        (self.log_dir / f"{name}.log").write_text(out.stdout + out.stderr)
        if out.returncode != 0:
            raise RuntimeError(f"hookrelay {' '.join(arguments)} failed:\n{out.stdout}\n{out.stderr}")
        return out.stdout

    def _spawn(self, name: str, *arguments: str) -> Proc:
        self._starts += 1
        proc = spawn(f"{name}-{self._starts}", _hookrelay_argv(*arguments), env=self.env, log_dir=self.log_dir)
        self.procs[name] = proc
        return proc

    def start_api(self) -> None:
        proc = self._spawn("api", "api", "--workers", str(self.api_workers))
        wait_http(self.base + "/readyz", proc=proc, timeout=60)

    def start_worker(self, processes: int | None = None, threads: int | None = None) -> None:
        arguments = ["worker"]
        if processes:
            arguments += ["--processes", str(processes)]
        if threads:
            arguments += ["--threads", str(threads)]
        self._spawn("worker", *arguments)

    def start_scheduler(self) -> None:
        self._spawn("scheduler", "scheduler")

    def start_live(self, endpoint_url: str, *, worker_processes: int | None = None) -> str:
        """The production layout on a fresh database: api, one endpoint at ``endpoint_url``
        (its id is returned), worker and scheduler, once the worker processes have booted."""
        self.create_database()
        self.start_api()
        endpoint_id = self.create_endpoint(endpoint_url)
        self.start_worker(processes=worker_processes)
        self.start_scheduler()
        self.wait_worker_ready(expected=worker_processes or os.cpu_count() or 1)
        return endpoint_id

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None:
            # `hookrelay worker` execs a Dramatiq master: signal it alone (see Proc.stop)
            proc.stop(group=name != "worker")

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    def worker_processes(self) -> list[int]:
        """The Dramatiq worker processes: the children ``hookrelay worker`` (Dramatiq's master) forks."""
        proc = self.procs.get("worker")
        if proc is None:
            return []
        return descendants(proc.pid)

    def wait_worker_ready(self, expected: int, timeout: float = 30.0) -> list[int]:
        """Wait until ``expected`` worker processes exist and their RSS has stopped growing
        (booted): by at most ``BOOTED_RSS_GROWTH_KIB`` in each half second of a whole second."""
        deadline = time.monotonic() + timeout
        pids: list[int] = []
        while time.monotonic() < deadline:
            pids = self.worker_processes()
            if len(pids) >= expected:
                break
            time.sleep(0.1)
        previous, settled = None, 0
        while time.monotonic() < deadline:
            current = sum(rss_kib(pid) or 0 for pid in pids)
            settled = settled + 1 if previous is not None and current - previous <= BOOTED_RSS_GROWTH_KIB else 0
            if settled >= 2:  # for a whole second: not a pause within the boot
                break
            previous = current
            time.sleep(0.5)
        return pids

    def worker_rss_kib(self) -> dict:
        pids = self.worker_processes()
        values = {pid: rss_kib(pid) for pid in pids}
        values = {pid: v for pid, v in values.items() if v}
        return {"processes": len(values), "total_kib": sum(values.values()),
                "max_kib": max(values.values()) if values else None}

    def scheduler_resent(self) -> int:
        """Deliveries the running scheduler re-sent (its ``deliveries_sent`` log lines)."""
        proc = self.procs.get("scheduler")
        if proc is None:
            return 0
        total = 0
        try:
            lines = proc.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return 0
        for line in lines:
            if '"deliveries_sent"' in line:
                try:
                    total += int(json.loads(line).get("count", 0))
                except ValueError:
                    pass
        return total

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def create_endpoint(self, url: str) -> str:
        status, body = http_json(self.base + "/v1/endpoints", method="POST", body={"url": url},
                                 headers=self.headers())
        if status != 201:
            raise RuntimeError(f"creating an endpoint answered {status}: {body}")
        return body["id"]

    def tails(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.tail()}" for p in self.procs.values())


class CeilingApp:
    """bench/ceiling_app.py served by uvicorn the way ``hookrelay api`` serves hookrelay."""

    def __init__(self, db_name: str, *, workers: int, log_dir: Path) -> None:
        from bench.ceiling_app import prepare

        self.db_name = db_name
        recreate_database(db_name)
        prepare(libpq_dsn(db_name))
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, "-m", "uvicorn", "bench.ceiling_app:create_app", "--factory",
                "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers),
                "--loop", "uvloop", "--http", COALESCED_WRITES_PROTOCOL, "--no-access-log", "--log-level", "warning"]
        self.proc = spawn("ceiling-app", argv, env=child_env(BENCH_CEILING_DSN=libpq_dsn(db_name)), log_dir=log_dir)
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _ = http_json(self.base + "/v1/jobs", method="POST", body={"type": "warm", "input": {}},
                                      timeout=2)
                if status == 202:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or not self.proc.alive():
                raise RuntimeError("ceiling app did not start:\n" + self.proc.tail())
            time.sleep(0.2)
        log(f"ceiling app on {self.base} ({workers} uvicorn worker(s))")

    def stop(self) -> None:
        self.proc.stop()
