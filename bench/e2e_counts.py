"""End-to-end repetitions (``scenario_end_to_end.one_rep``, the bench's own) at chosen connection
counts and lengths, on one live stack: for questions the full scenario does not ask, such as
how a run's length or a setting changes the figure. A diagnostic, not a benchmark figure.

    uv run python -m bench.e2e_counts 128:3 128:10 128:3 128:10        # connections:seconds
    uv run python -m bench.e2e_counts --env HOOKRELAY_LOG_LEVEL=warning 128:10 64:10
    uv run python -m bench.e2e_counts --worker-nice 10 128:10 64:10
    uv run python -m bench.e2e_counts --dirty-rows 600000 [--checkpoint] 128:10 64:10

``--dirty-rows`` writes a table of that many rows in a scratch database first (filling
PostgreSQL's shared buffers with dirty pages); ``--checkpoint`` then writes them out.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg  # noqa: E402

from bench.common import (  # noqa: E402
    LOGS, REDIS_HOOKRELAY_DB, checkpoint, descendants, drop_database, flush_redis, libpq_dsn, recreate_database,
)
from bench.config import Config  # noqa: E402
from bench.scenario_end_to_end import one_rep  # noqa: E402
from bench.stack import HookrelayStack, Receiver  # noqa: E402

SCRATCH_DATABASE = "hookrelay_bench_scratch"


def _plan(text: str) -> tuple[int, float]:
    connections, _, seconds = text.partition(":")
    return int(connections), float(seconds or 10)


def _renice_workers(stack: HookrelayStack, nice: int) -> None:
    # Linux keeps a nice value per thread, so every thread of every worker process.
    master = stack.procs["worker"].pid
    for pid in [master, *descendants(master)]:
        for thread_id in os.listdir(f"/proc/{pid}/task"):
            os.setpriority(os.PRIO_PROCESS, int(thread_id), nice)
    # With autogroups on (kernel.sched_autogroup_enabled), the kernel first shares the cores
    # between sessions, and the bench starts each process in a session of its own; a thread's
    # nice value then only ranks it within its own session. The session's nice is what ranks the
    # workers against the API, PostgreSQL and the receiver.
    autogroup = Path(f"/proc/{master}/autogroup")
    if autogroup.exists():
        autogroup.write_text(str(nice))


def _dirty_buffers(rows: int) -> None:
    recreate_database(SCRATCH_DATABASE)
    with psycopg.connect(libpq_dsn(SCRATCH_DATABASE), autocommit=True) as connection:
        connection.execute("CREATE TABLE filler (id bigint PRIMARY KEY, pad text)")
        connection.execute("INSERT INTO filler SELECT g, repeat('x', 500) FROM generate_series(1, %s) g", (rows,))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("plan", nargs="+", type=_plan, help="connections:seconds, run in this order")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the stack's processes")
    parser.add_argument("--api-workers", type=int, default=1)
    parser.add_argument("--worker-nice", type=int, default=0, help="nice value for every worker thread")
    parser.add_argument("--dirty-rows", type=int, default=0)
    parser.add_argument("--checkpoint", action="store_true")
    args = parser.parse_args(argv)
    config = Config()
    LOGS.mkdir(parents=True, exist_ok=True)
    flush_redis(REDIS_HOOKRELAY_DB)
    receiver = Receiver(LOGS / "e2e_counts")
    stack = HookrelayStack("e2e_counts", api_workers=args.api_workers, redis_db=REDIS_HOOKRELAY_DB)
    stack.env.update(pair.split("=", 1) for pair in args.env)
    try:
        stack.start_live(receiver.url(0))
        if args.worker_nice:
            _renice_workers(stack, args.worker_nice)
        time.sleep(1.0)
        one_rep(stack, config, seconds=config.wrk_warmup_seconds, grace=config.e2e_grace_seconds,
                connections=config.connections)  # warm-up, as the scenario does
        if args.dirty_rows:
            _dirty_buffers(args.dirty_rows)
        if args.checkpoint:
            checkpoint()
        for connections, seconds in args.plan:
            result = one_rep(stack, config, seconds=seconds, grace=config.e2e_grace_seconds, connections=connections)
            print(f"-c{connections} {seconds:g}s: accepted {result['accepted_per_s']:.0f}/s, delivered "
                  f"{result['delivered_per_s']:.0f}/s, backlog at end {result['backlog_at_load_end']}, "
                  f"left behind {result['left_behind']}, API p99 {result['api_p99_ms']:.1f} ms", flush=True)
    finally:
        stack.stop_all()
        receiver.stop()
        flush_redis(REDIS_HOOKRELAY_DB)
        drop_database(stack.db_name)
        if args.dirty_rows:
            drop_database(SCRATCH_DATABASE)


if __name__ == "__main__":
    main()
