"""Real processes: ``hookrelay api``, ``worker`` and ``scheduler`` against PostgreSQL and Redis."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.conftest import REDIS_URL, _admin, sqlalchemy_url

pytestmark = pytest.mark.e2e

ADMIN_TOKEN = "e2e-admin-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Stack:
    """api + worker + scheduler as subprocesses, each in its own process group."""

    def __init__(self, database_url: str, log_dir: Path, **env_overrides: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_dir = log_dir
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("HOOKRELAY_")},
            "HOOKRELAY_DATABASE_URL": database_url,
            "HOOKRELAY_REDIS_URL": REDIS_URL,
            "HOOKRELAY_ADMIN_TOKEN": ADMIN_TOKEN,
            "HOOKRELAY_SECRET_KEY": "e2e-secret-key",
            "HOOKRELAY_BIND": f"127.0.0.1:{self.port}",
            "HOOKRELAY_JOB_LEASE": "2s",
            "HOOKRELAY_LOG_FORMAT": "json",
            **env_overrides,
        }
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, name: str, *arguments: str) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}-{len(self.processes)}.log", "ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "hookrelay", *arguments],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.processes[name] = process
        return process

    def start_api(self) -> None:
        self.start("api", "api")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.base_url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("api did not become ready:\n" + self.logs())

    def start_worker(self, threads: int = 4) -> None:
        self.start("worker", "worker", "--processes", "1", "--threads", str(threads))

    def start_scheduler(self) -> None:
        self.start("scheduler", "scheduler")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes.pop(name)
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        process.wait(timeout=15)

    def stop(self) -> None:
        for name in list(self.processes):
            process = self.processes[name]
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.processes.pop(name)

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n" + path.read_text(errors="replace")[-3000:] for path in sorted(self.log_dir.glob("*.log"))
        )

    def create_app(self, name: str = "acme") -> str:
        response = httpx.post(
            self.base_url + "/v1/admin/applications", json={"name": name},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        response.raise_for_status()
        return response.json()["api_key"]

    def client(self, api_key: str) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30)


@pytest.fixture(scope="module")
def e2e_database_url(pg_template: str) -> str:
    name = f"hookrelay_e2e_{uuid.uuid4().hex[:12]}"
    _admin(f"CREATE DATABASE {name} TEMPLATE {pg_template}")
    yield sqlalchemy_url(name)
    _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.contextmanager
def running_stack(
    database_url: str, log_dir: Path, *, worker_threads: int = 4, extra_workers: int = 0, **env: str
) -> Iterator[Stack]:
    """api + ``1 + extra_workers`` worker processes + scheduler on a flushed Redis database."""
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    client.close()
    running = Stack(database_url, log_dir, **env)
    try:
        running.start_api()
        running.start_worker(threads=worker_threads)
        for number in range(2, 2 + extra_workers):
            running.start(f"worker{number}", "worker", "--processes", "1", "--threads", str(worker_threads))
        running.start_scheduler()
        yield running
    finally:
        running.stop()


# Settings the webhook modules share: local receivers allowed, a short attempt timeout.
DELIVERY_ENV = {"HOOKRELAY_ALLOW_PRIVATE_TARGETS": "true", "HOOKRELAY_DELIVERY_TIMEOUT": "2s"}


@pytest.fixture(scope="module")
def stack(e2e_database_url: str, tmp_path_factory) -> Stack:
    """The jobs stack; webhook modules override it with their own settings."""
    with running_stack(e2e_database_url, tmp_path_factory.mktemp("stack-logs"), worker_threads=2) as running:
        yield running


@pytest.fixture(scope="module")
def receiver():
    """A verifying webhook receiver for the module (tests use one path each)."""
    from tests.e2e.receiver import Receiver

    with Receiver() as running:
        yield running


@pytest.fixture
def api(stack: Stack, request) -> httpx.Client:
    """A client with a fresh application's key; dumps the process logs if the test fails."""
    with stack.client(stack.create_app()) as client:
        yield client
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(stack.logs())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report
