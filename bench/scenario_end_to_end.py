"""(3) End to end: ``POST /v1/events`` (one event per request) as fast as the API answers while
``hookrelay worker`` + ``scheduler`` deliver them to the receiver.

"At the highest rate the API sustains" (the issue): at 32 connections, the submission scenario's
load, part of both cores stays idle, because each request waits for the group commit that
carries it while the workers hold the cores. So the repetitions run at each of
``e2e_connections`` in alternation, and the figure is the best of the per-count medians (among
the counts that left nothing behind). One probe at 32 connections is kept for the table.

The reference is the ceiling app of scenario 1 (the same app and processes), measured here, in
the same repetitions: after hookrelay's runs of a repetition, the ceiling app runs at 32
connections and at each of ``e2e_connections``, while hookrelay's stack sits idle, and the
reference is its best per-count median. Until 2026-11-30 10:00 the reference came from scenario
1, minutes earlier, and a host's speed can move more than the target's margin in minutes: in
the run of 10:01 the ceiling app drew 2,989–4,482 req/s at 32 connections within one minute,
and end to end, four minutes later, measured 0.69× against its best median, where the run of
09:47 on the same host had measured 0.40×.

Until 2026-11-30 short probes (3 s, one each) picked one count for the repetitions. On one live
stack, 3 s at 128 connections delivered 1,666 and 1,786/s where 10 s delivered 2,158 and 2,348/s
(``python -m bench.e2e_counts 128:3 64:3 128:3 128:10 64:10 128:10``): the start and end of a run, when connections open and the
last batches are still in flight, weigh more in a short run and more at higher counts. So the
probes chose 64 connections, and the higher count was never measured the way the ceiling was.

Per repetition (window = the wrk run):
  accepted/s   events answered 2xx by the API / window
  delivered/s  first attempts that got a 2xx *during the window* / window
  backlog      deliveries of the window's events not yet succeeded when the load stops
  left behind  the same, ``e2e_grace_seconds`` after the load stops (target: 0)
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import psycopg

from bench.backlog import EVENT_TYPE, sample_data
from bench.common import LOGS, drop_database, log, median, ratio
from bench.config import Config
from bench.scenario_submission import JOB_BODY
from bench.stack import CeilingApp, HookrelayStack
from bench.wrk import run_wrk

EVENT_BODY = json.dumps({"type": EVENT_TYPE, "data": sample_data(1)})


def _counts(dsn: str, since: datetime) -> tuple[int, int, int]:
    with psycopg.connect(dsn, autocommit=True) as connection:
        accepted = connection.execute("SELECT count(*) FROM events WHERE created_at >= %s", (since,)).fetchone()[0]
        total, undelivered = connection.execute(
            "SELECT count(*), count(*) FILTER (WHERE status <> 'succeeded') FROM deliveries WHERE created_at >= %s",
            (since,),
        ).fetchone()
    return accepted, total, undelivered


def _delivered_between(dsn: str, start: datetime, end: datetime) -> int:
    with psycopg.connect(dsn, autocommit=True) as connection:
        return connection.execute(
            "SELECT count(*) FROM attempts WHERE outcome = 'success' AND started_at >= %s AND started_at < %s",
            (start, end),
        ).fetchone()[0]


def one_rep(stack: HookrelayStack, config: Config, *, seconds: float, grace: float, connections: int) -> dict:
    start = datetime.now(UTC)
    result = run_wrk(stack.base + "/v1/events", body=EVENT_BODY, headers=stack.headers(),
                     connections=connections, threads=config.wrk_threads, seconds=seconds)
    end = datetime.now(UTC)
    window = (end - start).total_seconds()
    accepted, deliveries, backlog = _counts(stack.dsn, start)
    deadline = time.monotonic() + grace
    undelivered, drained_after = backlog, 0.0 if backlog == 0 else None
    while undelivered and time.monotonic() < deadline:
        time.sleep(0.2)
        undelivered = _counts(stack.dsn, start)[2]
        if undelivered == 0:
            drained_after = (datetime.now(UTC) - end).total_seconds()
    delivered = _delivered_between(stack.dsn, start, end)
    return {
        "accepted_per_s": result["rps"], "accepted": accepted, "deliveries": deliveries,
        "delivered_in_window": delivered, "delivered_per_s": delivered / window if window else None,
        "backlog_at_load_end": backlog, "left_behind": undelivered, "drained_after_s": drained_after,
        "window_s": window, "api_p50_ms": result["p50_ms"], "api_p99_ms": result["p99_ms"],
        "wrk_errors": result["errors"], "connections": connections,
    }


def _summary(runs: list[dict]) -> dict:
    return {
        "accepted_per_s": median(r["accepted_per_s"] for r in runs),
        "delivered_per_s": median(r["delivered_per_s"] for r in runs),
        "api_p99_ms": median(r["api_p99_ms"] for r in runs),
        "backlog_at_load_end": median(r["backlog_at_load_end"] for r in runs),
        "left_behind": max(r["left_behind"] for r in runs),
    }


def _best_count(by_connections: dict[int, dict]) -> int:
    """The count with the highest median delivered/s among those that left nothing behind
    (among all, if every count left some)."""
    clean = {count: s for count, s in by_connections.items() if s["left_behind"] == 0} or by_connections
    return max(clean, key=lambda count: clean[count]["delivered_per_s"] or 0)


def run(config: Config, stack: HookrelayStack) -> dict:
    grace = config.e2e_grace_seconds
    counts = config.e2e_connections
    ceiling_counts = sorted({config.connections, *counts})
    ceiling = CeilingApp("hookrelay_bench_ceiling_e2e", workers=config.submission_api_workers,
                         log_dir=LOGS / "end_to_end")
    ceiling_wrk = dict(body=JOB_BODY, headers={}, threads=config.wrk_threads)
    try:
        run_wrk(ceiling.base + "/v1/jobs", seconds=config.wrk_warmup_seconds, connections=max(ceiling_counts),
                **ceiling_wrk)
        one_rep(stack, config, seconds=config.wrk_warmup_seconds, grace=grace, connections=max(counts))  # warm-up
        at_submission_load = one_rep(stack, config, seconds=config.e2e_probe_seconds, grace=grace,
                                     connections=config.connections)
        log(f"end-to-end probe at {config.connections} connections: accepted "
            f"{at_submission_load['accepted_per_s']:.0f}/s, delivered {at_submission_load['delivered_per_s']:.0f}/s, "
            f"left behind {at_submission_load['left_behind']}")
        runs_at: dict[int, list[dict]] = {count: [] for count in counts}
        ceiling_runs_at: dict[int, list[float]] = {count: [] for count in ceiling_counts}
        for rep in range(config.reps):
            for connections in counts:  # alternating, so that drift hits every count alike
                result = one_rep(stack, config, seconds=config.e2e_seconds, grace=grace, connections=connections)
                runs_at[connections].append(result)
                log(f"end-to-end rep {rep + 1} at {connections} connections: accepted "
                    f"{result['accepted_per_s']:.0f}/s, delivered {result['delivered_per_s']:.0f}/s, backlog at end "
                    f"{result['backlog_at_load_end']}, left behind {result['left_behind']}")
            for connections in ceiling_counts:  # the same repetition's reference
                result = run_wrk(ceiling.base + "/v1/jobs", seconds=config.wrk_seconds, connections=connections,
                                 **ceiling_wrk)
                ceiling_runs_at[connections].append(result["rps"])
                log(f"end-to-end rep {rep + 1} ceiling app at {connections} connections: {result['rps']:.0f} req/s")
    finally:
        ceiling.stop()
        drop_database(ceiling.db_name)
    by_connections = {count: _summary(runs) for count, runs in runs_at.items()}
    connections = _best_count(by_connections)
    best = by_connections[connections]
    ceiling_by_connections = {str(count): median(rates) for count, rates in ceiling_runs_at.items()}
    ceiling_rps = max((rps for rps in ceiling_by_connections.values() if rps), default=None)
    ceiling_at_submission_load = ceiling_by_connections.get(str(config.connections))
    delivered_at_submission_load = at_submission_load["delivered_per_s"]
    return {
        "connections": connections,
        **best,
        "by_connections": {str(count): summary for count, summary in by_connections.items()},
        "probe_at_submission_connections": at_submission_load,
        "submission_connections": config.connections,
        "delivered_per_s_at_submission_connections": delivered_at_submission_load,
        "ceiling_rps_at_submission_connections": ceiling_at_submission_load,
        "delivered_ratio_at_submission_connections": ratio(delivered_at_submission_load, ceiling_at_submission_load),
        "ceiling_rps_by_connections": ceiling_by_connections,
        "ceiling_runs_by_connections": {str(count): rates for count, rates in ceiling_runs_at.items()},
        "ceiling_rps": ceiling_rps,
        "delivered_ratio": ratio(best["delivered_per_s"], ceiling_rps),
        "runs": [rep for count in counts for rep in runs_at[count]],
        "notes": [
            f"wrk -c{'/'.join(map(str, counts))} POST /v1/events for {config.e2e_seconds:g}s per repetition, "
            f"{config.reps} repetitions at each count in alternation, 1 endpoint; api + worker (defaults) + "
            "scheduler running; delivered/s counts 2xx attempts that started inside the load window; left behind "
            f"= undelivered {config.e2e_grace_seconds:g}s after the load stops",
            f"figure: the best per-count median delivered/s among the counts that left nothing behind "
            f"(here -c{connections}); every count's medians are in by_connections",
            f"ceiling = the ceiling app of scenario 1 ({config.submission_api_workers} uvicorn processes, "
            f"POST /v1/jobs, wrk {config.wrk_seconds:g}s) run in each repetition right after hookrelay's, at "
            f"{', '.join(map(str, ceiling_counts))} connections: its best per-count median req/s",
            f"at {config.connections} connections: one {config.e2e_probe_seconds:g}s probe, not a median",
        ],
    }
