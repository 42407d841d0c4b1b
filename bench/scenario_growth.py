"""(5) Growth: does the hot path slow down as history piles up?

Two databases side by side, one with ``growth_small`` and one with ``growth_large`` rows in each
of ``events``, ``deliveries`` (succeeded, ``next_attempt_at`` NULL) and ``jobs`` (completed),
plus the same ``due_rows`` due deliveries (pending, never sent) in both, measured in alternation.
Filler rows are made with ``INSERT … SELECT generate_series`` (small JSON payloads, ids that sort
before today's), then ``VACUUM ANALYZE``.

* due-work scan + claim: ``claim_due_for_enqueue`` (the scheduler's batch) followed by ``claim``
  of one worker batch of those ids, in one transaction that is rolled back, so every call sees
  the same rows; median over ``growth_calls`` calls after 3 warm-ups.
* job submission: wrk ``POST /v1/jobs`` at 32 connections against ``hookrelay api``.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import psycopg

from bench.common import REDIS_HOOKRELAY_DB, database_url, flush_redis, log, median, ratio
from bench.config import Config
from bench.scenario_submission import JOB_BODY, summarize
from bench.stack import HookrelayStack, Receiver
from bench.wrk import run_wrk

_FILL_EVENTS = """
INSERT INTO events (id, app_id, type, data, created_at, body)
SELECT 'evt_00' || lpad(i::text, 24, '0'), %(app)s, 'invoice.paid', jsonb_build_object('n', i),
       now() - interval '2 days',
       '{"id":"evt_00' || lpad(i::text, 24, '0') || '","type":"invoice.paid",'
       || '"created_at":"2026-01-01T00:00:00.000Z","data":{"n":' || i || '}}'
FROM generate_series(%(low)s::int, %(high)s::int) AS i
"""
_FILL_DELIVERIES = """
INSERT INTO deliveries (id, app_id, event_id, endpoint_id, event_type, status, attempts, next_attempt_at,
                        last_attempt_at, last_response_status, created_at, updated_at)
SELECT 'dlv_00' || lpad(i::text, 24, '0'), %(app)s, 'evt_00' || lpad(i::text, 24, '0'), %(endpoint)s,
       'invoice.paid', 'succeeded', 1, NULL, now() - interval '2 days', 204, now() - interval '2 days',
       now() - interval '2 days'
FROM generate_series(%(low)s::int, %(high)s::int) AS i
"""
_FILL_JOBS = """
INSERT INTO jobs (id, app_id, type, status, input, result, attempts, max_attempts, timeout_seconds, run_at,
                  cancel_requested, created_at, started_at, finished_at, updated_at)
SELECT 'job_00' || lpad(i::text, 24, '0'), %(app)s, 'demo.echo', 'completed', jsonb_build_object('n', i),
       jsonb_build_object('n', i), 1, 1, 30, now() - interval '2 days', false, now() - interval '2 days',
       now() - interval '2 days', now() - interval '2 days', now() - interval '2 days'
FROM generate_series(%(low)s::int, %(high)s::int) AS i
"""
_DUE = """
INSERT INTO deliveries (id, app_id, event_id, endpoint_id, event_type, status, attempts, next_attempt_at,
                        enqueued_at, created_at, updated_at)
SELECT d.id, %(app)s, 'evt_00' || lpad(d.n::text, 24, '0'), %(endpoint)s, 'invoice.paid', 'pending', 0,
       now() - interval '1 minute', NULL, now() - interval '1 minute', now() - interval '1 minute'
FROM unnest(%(ids)s::text[], %(ns)s::int[]) AS d(id, n)
"""


def _execute(dsn: str, statements: list[str], params: dict) -> None:
    with psycopg.connect(dsn, autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement, params if "%(" in statement else None)


def fill(dsn: str, app_id: str, endpoint_id: str, low: int, high: int) -> float:
    """Events first (deliveries reference them), then deliveries and jobs on two connections."""
    started = time.perf_counter()
    params = {"app": app_id, "endpoint": endpoint_id, "low": low, "high": high}
    _execute(dsn, [_FILL_EVENTS], params)
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [
            pool.submit(_execute, dsn, [_FILL_DELIVERIES, "VACUUM ANALYZE deliveries", "VACUUM ANALYZE events"],
                        params),
            pool.submit(_execute, dsn, [_FILL_JOBS, "VACUUM ANALYZE jobs"], params),
        ]
        for future in futures:
            future.result()
    return time.perf_counter() - started


def add_due(dsn: str, app_id: str, endpoint_id: str, count: int) -> None:
    from hookrelay.domain.ids import new_id

    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(_DUE, {"app": app_id, "endpoint": endpoint_id,
                                  "ids": [new_id("dlv") for _ in range(count)],
                                  "ns": [i + 1 for i in range(count)]})


async def _time_scan_and_claim(urls: dict[str, str], calls: int) -> dict[str, dict]:
    """Scan + claim ``calls`` times on each database, alternating call by call, so that the
    machine's drift (its speed moves by ±20% within a minute) falls on every size alike."""
    from hookrelay.db.engine import Database
    from hookrelay.db.repositories.deliveries import claim, claim_due_for_enqueue

    try:
        from hookrelay import scheduler

        batch = getattr(scheduler, "BATCH", 500)
        quiet = getattr(scheduler, "DELIVERY_RESEND_QUIET_PERIOD", timedelta(seconds=10))
    except ImportError:
        batch, quiet = 500, timedelta(seconds=10)
    worker_batch = 50
    databases = {label: Database(url) for label, url in urls.items()}
    scans: dict[str, list[float]] = {label: [] for label in urls}
    claims: dict[str, list[float]] = {label: [] for label in urls}
    found: dict[str, list[tuple[int, int]]] = {label: [] for label in urls}
    try:
        for call in range(calls + 3):
            for label, database in databases.items():
                async with database.engine.connect() as connection:
                    transaction = await connection.begin()
                    now = datetime.now(UTC)
                    t0 = time.perf_counter()
                    ids = await claim_due_for_enqueue(connection, now=now, quiet_period=quiet, limit=batch)
                    t1 = time.perf_counter()
                    claimed = await claim(connection, ids[:worker_batch], now=now, lease=timedelta(seconds=45))
                    t2 = time.perf_counter()
                    await transaction.rollback()
                if call >= 3:
                    scans[label].append((t1 - t0) * 1000)
                    claims[label].append((t2 - t1) * 1000)
                    found[label].append((len(ids), len(claimed)))
    finally:
        for database in databases.values():
            await database.dispose()
    results = {}
    for label in urls:
        totals = [a + b for a, b in zip(scans[label], claims[label], strict=True)]
        results[label] = {"scan_ms": median(scans[label]), "claim_ms": median(claims[label]),
                          "total_ms": median(totals), "scan_batch": batch, "claim_batch": worker_batch,
                          "found": found[label][0] if found[label] else None}
    return results


def _submission(stack: HookrelayStack, config: Config, seconds: float) -> dict:
    return run_wrk(stack.base + "/v1/jobs", body=JOB_BODY, headers=stack.headers(), connections=config.connections,
                   threads=config.wrk_threads, seconds=seconds)


def _rows(stack: HookrelayStack) -> dict:
    with psycopg.connect(stack.dsn) as connection:
        return {table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in ("deliveries", "events", "jobs")}


def run(config: Config, receiver: Receiver) -> dict:
    """Two databases side by side (small, large), measured in alternation, so that whatever
    else the machine does meanwhile falls on both sizes alike."""
    flush_redis(REDIS_HOOKRELAY_DB)
    sizes = {"small": config.growth_small, "large": config.growth_large}
    stacks = {label: HookrelayStack(f"growth_{label}", api_workers=config.api_workers, redis_db=REDIS_HOOKRELAY_DB)
              for label in sizes}
    fill_seconds: dict[str, float] = {}
    claims: dict[str, list[dict]] = {label: [] for label in sizes}
    submissions: dict[str, list[dict]] = {label: [] for label in sizes}
    try:
        for label, stack in stacks.items():
            stack.create_database()
            stack.start_api()
            endpoint_id = stack.create_endpoint(receiver.url(0))
            fill_seconds[label] = fill(stack.dsn, stack.app_id, endpoint_id, 1, sizes[label])
            add_due(stack.dsn, stack.app_id, endpoint_id, config.due_rows)
            log(f"growth: {sizes[label]:,} rows per table filled in {fill_seconds[label]:.0f}s")
        for stack in stacks.values():
            _submission(stack, config, 1)  # warm-up
        for rep in range(config.reps):
            urls = {label: database_url(stack.db_name) for label, stack in stacks.items()}
            for label, result in asyncio.run(_time_scan_and_claim(urls, config.growth_calls)).items():
                claims[label].append(result)
            for label, stack in stacks.items():
                submissions[label].append(_submission(stack, config, config.growth_wrk_seconds))
            log(f"growth rep {rep + 1}: scan+claim " + ", ".join(
                f"{label} {claims[label][-1]['total_ms']:.1f} ms" for label in sizes) + "; jobs " + ", ".join(
                f"{label} {submissions[label][-1]['rps']:.0f} req/s" for label in sizes))
        rows = {label: _rows(stack) for label, stack in stacks.items()}
    finally:
        for stack in stacks.values():
            stack.stop_all()
        flush_redis(REDIS_HOOKRELAY_DB)
    measured = {}
    for label in sizes:
        runs = claims[label]
        measured[label] = {
            "scan_claim": {"scan_ms": median(r["scan_ms"] for r in runs),
                           "claim_ms": median(r["claim_ms"] for r in runs),
                           "total_ms": median(r["total_ms"] for r in runs), "runs": runs},
            "submission": summarize(submissions[label]),
            "rows": rows[label],
        }
    small, large = measured["small"], measured["large"]
    return {
        "small_rows": config.growth_small, "large_rows": config.growth_large, "due_rows": config.due_rows,
        "small": small, "large": large,
        "scan_claim_ratio": ratio(large["scan_claim"]["total_ms"], small["scan_claim"]["total_ms"]),
        # time per request grows as throughput falls: small req/s over large req/s
        "submission_cost_ratio": ratio(small["submission"]["rps"], large["submission"]["rps"]),
        "submission_p99_ratio": ratio(large["submission"]["p99_ms"], small["submission"]["p99_ms"]),
        "fill_seconds": fill_seconds,
        "notes": [
            "two databases (small and large) each behind its own `hookrelay api`, measured in alternation; "
            "filler rows by INSERT…SELECT generate_series (succeeded deliveries, completed jobs, one event per "
            "delivery) + VACUUM ANALYZE; the same number of due rows (pending, never sent) in both; scan+claim "
            f"= median of {config.growth_calls} calls per repetition, small and large alternating call by call, "
            "each in a transaction that is rolled back",
            "submission ratio = req/s with the small tables / req/s with the large ones (time per request); "
            "the jobs tables grow a little with each wrk run",
        ],
    }
