"""Where the CPU goes: CPU-seconds per kind of process (api, worker, scheduler, postgres, redis,
receiver, wrk) while one bench shape runs, and per item (request or delivery); how long each
kind's threads waited, runnable, for a core; and how long the cores sat idle. The figures in
the "what changed" lists of ``bench/HISTORY.md`` were found this way, then explained with ``py-spy``.

    uv run python -m bench.cpu_split submission   # wrk POST /v1/jobs against `hookrelay api` alone
    uv run python -m bench.cpu_split end_to_end   # wrk POST /v1/events with worker + scheduler running
    uv run python -m bench.cpu_split ceiling      # wrk POST /v1/jobs against the ceiling app alone
    uv run python -m bench.cpu_split drain        # one 20,000-delivery drain (from worker start)
    uv run python -m bench.cpu_split drain --leftover   # … then the messages still queued after it

Reads /proc; Linux only. One run, no repetitions: a diagnostic, not a benchmark figure.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    CLK_TCK, LOGS, REDIS_HOOKRELAY_DB, all_cpus_ticks, cmdline, drop_database, flush_redis, parent_pid,
    process_cpu_ticks,
)
from bench.config import Config  # noqa: E402
from bench.stack import HookrelayStack, Receiver  # noqa: E402


def _kind(pid: int) -> str:
    command = cmdline(pid)
    if "multiprocessing" in command:  # a process uvicorn spawned for --workers N: its parent's kind
        return _kind(parent_pid(pid) or 0)
    for marker, kind in (("postgres", "postgres"), ("redis-server", "redis"), ("bench.receiver", "receiver"),
                         ("bench.ceiling_app", "ceiling"), (" api", "api"), ("scheduler", "scheduler"),
                         (" worker", "worker")):
        if marker in command:
            return kind
    return "wrk" if command.startswith("wrk") else "other"


def _runqueue_wait_ns(pid: int) -> int:
    """How long the threads of ``pid`` alive now have waited, runnable, for a core (the second
    field of each thread's ``schedstat``); 0 where the kernel does not keep it."""
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    waited = 0
    for thread in threads:
        try:  # a thread may end between the listing and the read
            waited += int(Path(f"/proc/{pid}/task/{thread}/schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return waited


def _cpu_by_pid() -> dict[int, tuple[int, str, int]]:
    """Per process: CPU ticks used, kind, and nanoseconds spent waiting for a core."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            ticks = process_cpu_ticks(int(entry.name))
            if ticks is not None:
                found[int(entry.name)] = (ticks, _kind(int(entry.name)), _runqueue_wait_ns(int(entry.name)))
    return found


def _idle_cpu_seconds() -> float:
    """Idle and I/O-wait time of all cores since boot (the first line of /proc/stat)."""
    ticks = all_cpus_ticks()
    return (ticks[3] + ticks[4]) / CLK_TCK


def report(before: dict, after: dict, items: float, wall: float, unit: str, idle_seconds: float | None = None) -> None:
    """CPU per kind of process, and how long that kind waited, runnable, for a core: a process
    on the critical path that waits while cores sit idle is held up by scheduling, not work."""
    by_kind: dict[str, list[float]] = {}
    for pid, (ticks, kind, waited_ns) in after.items():
        ticks_before, _, waited_before = before.get(pid, (0, kind, 0))
        used, waited = ticks - ticks_before, waited_ns - waited_before
        if used > 0:
            totals = by_kind.setdefault(kind, [0.0, 0.0])
            totals[0] += used / CLK_TCK
            totals[1] += max(waited, 0) / 1e9
    for kind, (seconds, waited) in sorted(by_kind.items(), key=lambda pair: -pair[1][0]):
        print(f"  {kind:10s} {seconds:6.2f} CPU-s  {1000 * seconds / items:6.3f} ms per {unit}"
              f"   waited {waited:5.2f} s for a core")
    idle = f", {idle_seconds:.2f} idle" if idle_seconds is not None else ""
    print(f"  total      {sum(totals[0] for totals in by_kind.values()):6.2f} CPU-s of "
          f"{os.cpu_count() * wall:.1f} available{idle}")


def _measure_wrk(label: str, url: str, *, body: str, headers: dict, seconds: float, connections: int) -> None:
    """A 2 s warm-up, then ``seconds`` of wrk on ``url``, read and reported per request."""
    from bench.wrk import run_wrk

    target = dict(body=body, headers=headers, connections=connections, threads=2)
    run_wrk(url, seconds=2, **target)  # warm-up
    time.sleep(1)
    before, idle_before, started = _cpu_by_pid(), _idle_cpu_seconds(), time.time()
    result = run_wrk(url, seconds=seconds, **target)
    after, idle, wall = _cpu_by_pid(), _idle_cpu_seconds() - idle_before, time.time() - started
    print(f"{label}: {result['rps']:.0f} req/s, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms")
    report(before, after, result["rps"] * seconds, wall, "request", idle)


def _wrk_shape(path: str, body: str, with_workers: bool, seconds: float, api_workers: int, connections: int,
               worker_processes: int | None = None) -> None:
    receiver = Receiver(LOGS / "cpu_split") if with_workers else None
    stack = HookrelayStack("cpu_split", api_workers=api_workers, redis_db=REDIS_HOOKRELAY_DB)
    try:
        if receiver is not None:
            stack.start_live(receiver.url(0), worker_processes=worker_processes)
        else:
            stack.create_database()
            stack.start_api()
        _measure_wrk(f"POST {path}", stack.base + path, body=body, headers=stack.headers(), seconds=seconds,
                     connections=connections)
    finally:
        stack.stop_all()
        drop_database(stack.db_name)
        if receiver is not None:
            receiver.stop()


def _ceiling(seconds: float, api_workers: int, connections: int) -> None:
    """The ceiling app (``bench.stack.CeilingApp``) read the same way: what one durable request
    costs with nothing of hookrelay's, the yardstick of end to end's CPU per event."""
    from bench.scenario_submission import JOB_BODY
    from bench.stack import CeilingApp

    ceiling = CeilingApp("hookrelay_bench_cpu_split_ceiling", workers=api_workers, log_dir=LOGS / "cpu_split")
    try:
        _measure_wrk("ceiling app POST /v1/jobs", ceiling.base + "/v1/jobs", body=JOB_BODY, headers={},
                     seconds=seconds, connections=connections)
    finally:
        ceiling.stop()
        drop_database(ceiling.db_name)


def _drain(count: int, *, leftover: bool) -> None:
    from bench import scenario_drain
    from bench.backlog import make_events

    receiver = Receiver(LOGS / "cpu_split")
    stack = HookrelayStack("cpu_split", api_workers=1, redis_db=REDIS_HOOKRELAY_DB)
    marks: dict = {}
    start_worker, stop = stack.start_worker, stack.stop

    def start_worker_measured(*args, **kwargs) -> None:
        marks["before"], marks["idle"], marks["started"] = _cpu_by_pid(), _idle_cpu_seconds(), time.time()
        start_worker(*args, **kwargs)

    def stop_measured(name: str) -> None:
        if name == "worker" and "after" not in marks:
            marks["after"], marks["wall"] = _cpu_by_pid(), time.time() - marks["started"]
            marks["idle"] = _idle_cpu_seconds() - marks["idle"]
        if not leftover:
            stop(name)

    stack.start_worker, stack.stop = start_worker_measured, stop_measured  # type: ignore[method-assign]
    try:
        stack.create_database()
        stack.start_api()
        endpoint_ids = [stack.create_endpoint(receiver.url(0))]
        result = scenario_drain.hookrelay_rep(stack, receiver, endpoint_ids, make_events(count), count, Config())
        print(f"drain {count}: {result['rate'] or 0:.0f} deliveries/s over {result['seconds'] or 0:.1f} s; "
              f"first 2xx {result['start_to_first_2xx_s'] or 0:.2f} s after the worker started")
        report(marks["before"], marks["after"], count, marks["wall"], "delivery", marks["idle"])
        if leftover:
            _consume_leftover_messages()
    finally:
        stack.stop = stop  # type: ignore[method-assign]
        stack.stop_all()
        drop_database(stack.db_name)
        receiver.stop()


def _consume_leftover_messages(timeout: float = 180.0) -> None:
    """What the workers spend, after the last delivery, on the ``deliver`` messages still queued:
    the deliveries they name were leased by other messages' claims (``fill_to``)."""
    import redis

    from bench.common import redis_url

    client = redis.Redis.from_url(redis_url(REDIS_HOOKRELAY_DB))
    queued = client.llen("dramatiq:deliveries")
    before, started = _cpu_by_pid(), time.time()
    while client.llen("dramatiq:deliveries") > 0 and time.time() - started < timeout:
        time.sleep(0.05)
    after, wall = _cpu_by_pid(), time.time() - started
    print(f"{queued} deliver messages left after the last delivery, consumed in {wall:.1f} s")
    report(before, after, max(queued, 1), wall, "leftover message")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shape", choices=("submission", "end_to_end", "ceiling", "drain"))
    parser.add_argument("--seconds", type=float, default=10.0, help="wrk duration (submission, end_to_end, ceiling)")
    parser.add_argument("--leftover", action="store_true",
                        help="drain: then measure consuming the messages still queued after the last delivery")
    parser.add_argument("--api-workers", type=int, default=1, help="api processes (submission, end_to_end, ceiling)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (submission, end_to_end, ceiling)")
    parser.add_argument("--worker-processes", type=int, default=None,
                        help="hookrelay worker --processes (end_to_end; default: its own, one per core)")
    parser.add_argument("--deliveries", type=int, default=20_000, help="backlog size (drain)")
    args = parser.parse_args(argv)
    LOGS.mkdir(parents=True, exist_ok=True)
    flush_redis(REDIS_HOOKRELAY_DB)
    try:
        if args.shape == "drain":
            _drain(args.deliveries, leftover=args.leftover)
        elif args.shape == "ceiling":
            _ceiling(args.seconds, args.api_workers, args.connections)
        else:
            from bench.scenario_end_to_end import EVENT_BODY
            from bench.scenario_submission import JOB_BODY

            path, body = ("/v1/jobs", JOB_BODY) if args.shape == "submission" else ("/v1/events", EVENT_BODY)
            _wrk_shape(path, body, with_workers=args.shape == "end_to_end", seconds=args.seconds,
                       api_workers=args.api_workers, connections=args.connections,
                       worker_processes=args.worker_processes)
    finally:
        flush_redis(REDIS_HOOKRELAY_DB)


if __name__ == "__main__":
    main()
