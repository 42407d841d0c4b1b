"""What a worker process sets up when Dramatiq imports its entry module: the event loop its
async actors run on is uvloop's, the database is checked once, and the start-up heap is out of
the collector's sight."""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = """
import gc, json, logging
import hookrelay.queue.worker_entry  # what `dramatiq hookrelay.queue.worker_entry` imports first
from dramatiq.asyncio import EventLoopThread
# The thread Dramatiq's AsyncIO middleware starts at worker boot, whose loop the actors run on.
actors_loop = EventLoopThread(logging.getLogger("probe")).loop
print(json.dumps({
    "loop": type(actors_loop).__module__,
    "young_threshold": gc.get_threshold()[0],
    "frozen": gc.get_freeze_count(),
}))
"""


def test_worker_entry_uses_uvloop_and_settles_the_heap(database_url: str, redis_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKRELAY_")}
    env.update(HOOKRELAY_DATABASE_URL=database_url, HOOKRELAY_REDIS_URL=redis_url)
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    assert probe["loop"].startswith("uvloop")
    assert probe["young_threshold"] == 20_000
    assert probe["frozen"] > 10_000  # the imported modules, not a handful of objects
    # It reached the database at start, so it said nothing about it.
    assert "database_unreachable_at_start" not in out.stdout + out.stderr


def test_worker_starts_and_says_so_when_the_database_is_unreachable(redis_url: str) -> None:
    """A wrong database URL shows in the log at start, without the URL's password, and the
    worker still starts (its messages wait in Redis until the database answers)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKRELAY_")}
    env.update(
        # Port 1: nothing listens there, so the connection is refused at once.
        HOOKRELAY_DATABASE_URL="postgresql+psycopg://hookrelay:hunter2-not-logged@127.0.0.1:1/hookrelay",
        HOOKRELAY_REDIS_URL=redis_url,
    )
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    logged = out.stdout + out.stderr
    assert "database_unreachable_at_start" in logged
    assert "hunter2-not-logged" not in logged
    assert json.loads(out.stdout.strip().splitlines()[-1])["loop"].startswith("uvloop")
