"""(2) Delivery drain rate: a backlog accepted while the workers were stopped, then drained.

Shapes: N events × 1 endpoint and M events × 4 endpoints. Contenders, in alternation per
repetition, all posting the same bodies to the same receiver:

* hookrelay — the backlog written as ``POST /v1/events`` writes it (see ``backlog.py``), then
  ``hookrelay worker`` (production defaults: one process per core, 8 threads) and
  ``hookrelay scheduler`` are started next to the running ``hookrelay api``. Figure: deliveries /
  (last − first 2xx recorded in the database: ``attempts.started_at (+duration_ms)`` of
  ``outcome='success'``).
* ceiling — ``aiohttp_ceiling.py``: raw aiohttp at its best concurrency (probed once per shape).
* peer — ``peer_actor.py``: Dramatiq + httpx, Dramatiq's default processes and threads.
  Figures for ceiling and peer: deliveries / (last − first arrival at the receiver).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import psycopg

from bench.backlog import (
    insert_hookrelay_backlog,
    make_events,
    reset_hookrelay_tables,
    send_outbox_messages,
    send_peer_messages,
)
from bench.common import (
    LOGS,
    REDIS_HOOKRELAY_DB,
    REDIS_PEER_DB,
    child_env,
    flush_redis,
    log,
    median,
    ratio,
    redis_url,
    spawn,
)
from bench.config import Config
from bench.stack import HookrelayStack, Receiver

os.environ.setdefault("BENCH_PEER_REDIS_URL", redis_url(REDIS_PEER_DB))


def _receiver_rate(stats: dict) -> float | None:
    span = (stats["last"] or 0) - (stats["first"] or 0)
    return stats["unique"] / span if span > 0 else None


def database_span(dsn: str) -> dict:
    with psycopg.connect(dsn) as connection:
        count, first, last = connection.execute(
            "SELECT count(*), min(started_at), max(started_at + duration_ms * interval '1 millisecond') "
            "FROM attempts WHERE outcome = 'success'"
        ).fetchone()
        attempts = connection.execute("SELECT count(*) FROM attempts").fetchone()[0]
        statuses = dict(connection.execute("SELECT status, count(*) FROM deliveries GROUP BY status").fetchall())
    seconds = (last - first).total_seconds() if first and last else None
    return {"delivered": count, "seconds": seconds, "rate": count / seconds if seconds else None,
            "attempts": attempts, "statuses": statuses,
            "first": first.timestamp() if first else None, "last": last.timestamp() if last else None}


def wait_database(dsn: str, total: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as connection:
        while time.monotonic() < deadline:
            done = connection.execute("SELECT count(*) FROM deliveries WHERE status = 'succeeded'").fetchone()[0]
            if done >= total:
                return
            time.sleep(0.2)


def hookrelay_rep(stack: HookrelayStack, receiver: Receiver, endpoint_ids: list[str], events, total: int,
                  config: Config) -> dict:
    reset_hookrelay_tables(stack.dsn)
    flush_redis(REDIS_HOOKRELAY_DB)
    receiver.reset()
    started = time.perf_counter()
    per_event = insert_hookrelay_backlog(stack.dsn, app_id=stack.app_id, endpoint_ids=endpoint_ids, events=events)
    inserted = time.perf_counter() - started
    enqueue_seconds = send_outbox_messages(REDIS_HOOKRELAY_DB, per_event)
    workers_started = time.time()
    stack.start_worker()
    stack.start_scheduler()
    stats = receiver.wait_for(total, timeout=config.drain_timeout)
    wait_database(stack.dsn, total, timeout=30)
    wall = time.time() - workers_started
    span = database_span(stack.dsn)
    rss = stack.worker_rss_kib()
    resent = stack.scheduler_resent()
    stack.stop("worker")
    stack.stop("scheduler")
    return {
        "rate": span["rate"], "seconds": span["seconds"], "delivered": span["delivered"], "total": total,
        "complete": span["statuses"].get("succeeded", 0) >= total,
        "attempts": span["attempts"], "statuses": span["statuses"],
        "receiver_rate": _receiver_rate(stats), "receiver_duplicates": stats["duplicates"],
        "start_to_first_2xx_s": (span["first"] - workers_started) if span["first"] else None,
        "start_to_all_done_s": wall, "backlog_insert_s": inserted, "outbox_send_s": enqueue_seconds,
        "worker_rss_after": rss, "scheduler_resent": resent,
    }


def peer_rep(receiver: Receiver, urls: list[str], events, total: int, config: Config, tag: str) -> dict:
    flush_redis(REDIS_PEER_DB)
    receiver.reset()
    enqueue_seconds = send_peer_messages(urls, events)
    started = time.time()
    proc = spawn(f"peer-{tag}", [sys.executable, "-m", "dramatiq", "bench.peer_actor"],
                 env=child_env(BENCH_PEER_REDIS_URL=redis_url(REDIS_PEER_DB)), log_dir=LOGS / "drain")
    try:
        stats = receiver.wait_for(total, timeout=config.drain_timeout)
    finally:
        proc.stop(group=False)
    flush_redis(REDIS_PEER_DB)
    rate = _receiver_rate(stats)
    return {"rate": rate, "seconds": stats["unique"] / rate if rate else None, "delivered": stats["unique"],
            "total": total, "complete": stats["unique"] >= total, "duplicates": stats["duplicates"],
            "start_to_first_2xx_s": (stats["first"] - started) if stats["first"] else None,
            "enqueue_s": enqueue_seconds}


def ceiling_run(receiver: Receiver, items_path: str, concurrency: int, limit: int | None = None) -> dict:
    receiver.reset()
    argv = [sys.executable, "-m", "bench.aiohttp_ceiling", "--input", items_path, "--concurrency", str(concurrency)]
    if limit:
        argv += ["--limit", str(limit)]
    out = subprocess.run(argv, capture_output=True, text=True, env=child_env(), timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"aiohttp ceiling failed:\n{out.stderr[-2000:]}")
    client = json.loads(out.stdout.strip().splitlines()[-1])
    stats = receiver.stats()
    rate = _receiver_rate(stats)
    return {"rate": rate, "seconds": stats["unique"] / rate if rate else None, "delivered": stats["unique"],
            "complete": client["failed"] == 0, "concurrency": concurrency, "client": client}


def _seconds_per_rep(calibration: dict, wall: float, per_delivery_setup: float) -> tuple[float, float] | None:
    """(fixed seconds, seconds per delivery) of one repetition, from a calibration drain that
    took ``wall`` seconds in all: its rate gives the draining, ``per_delivery_setup`` the
    backlog's writing; the rest (processes starting and stopping) is taken as fixed."""
    rate, delivered = calibration.get("rate"), calibration.get("delivered") or calibration.get("total")
    if not rate or not delivered:
        return None
    per_delivery = 1 / rate + per_delivery_setup
    return max(0.0, wall - delivered * per_delivery), per_delivery


def _fitted_count(config: Config, requested: int, endpoints: int, costs: list[tuple[float, float] | None]) -> int:
    """The largest count (a multiple of 500 events) whose repetitions, at ``costs`` (fixed,
    per delivery) for each contender, fit ``drain_shape_budget_s``."""
    if any(cost is None for cost in costs):
        return requested
    fixed = sum(cost[0] for cost in costs)
    per_delivery = sum(cost[1] for cost in costs)
    deliveries = (config.drain_shape_budget_s / max(1, config.reps) - fixed) / per_delivery
    fits = int(deliveries / endpoints) // 500 * 500
    return max(500, min(requested, fits))


Costs = list[tuple[float, float] | None]  # (fixed seconds, seconds per delivery) of each contender's repetition


def _calibrate(config: Config, stack: HookrelayStack, receiver: Receiver, endpoint_ids: list[str], urls: list[str],
               key: str) -> tuple[dict, Costs]:
    """Small drains by hookrelay and the peer (not counted): what a repetition of each contender
    costs, for ``_fitted_count``."""
    endpoints = len(urls)
    calibration_events = max(1, config.drain_calibration // endpoints)
    events = make_events(calibration_events)
    total = calibration_events * endpoints
    started = time.perf_counter()
    hookrelay = hookrelay_rep(stack, receiver, endpoint_ids, events, total, config)
    hookrelay_wall = time.perf_counter() - started
    started = time.perf_counter()
    peer = peer_rep(receiver, urls, events, total, config, f"{key}-calibration")
    peer_wall = time.perf_counter() - started
    hookrelay_cost = _seconds_per_rep(
        hookrelay, hookrelay_wall, (hookrelay["backlog_insert_s"] + hookrelay["outbox_send_s"]) / total)
    peer_cost = _seconds_per_rep(peer, peer_wall, peer["enqueue_s"] / total)
    # The ceiling drains faster than hookrelay (or the ratio target is met anyway): hookrelay's
    # drain time bounds it.
    ceiling_cost = (1.0, 1 / hookrelay["rate"]) if hookrelay.get("rate") else None
    calibration = {**hookrelay, "wall_s": hookrelay_wall, "peer": {**peer, "wall_s": peer_wall}}
    return calibration, [hookrelay_cost, peer_cost, ceiling_cost]


def drain_shape(config: Config, receiver: Receiver, *, events_count: int, endpoints: int,
                calibrated: tuple[dict, Costs] | None = None) -> tuple[dict, tuple[dict, Costs] | None]:
    """One shape's repetitions; returns its results and the calibration it used (``calibrated``,
    or its own when none was given), which the next shape can reuse."""
    key = f"{endpoints}ep"
    requested = events_count
    flush_redis(REDIS_HOOKRELAY_DB)
    stack = HookrelayStack(f"drain_{key}", api_workers=config.api_workers, redis_db=REDIS_HOOKRELAY_DB)
    runs: dict[str, list[dict]] = {"hookrelay": [], "peer": [], "ceiling": []}
    probe: dict[int, float | None] = {}
    calibration = None
    try:
        stack.create_database()
        stack.start_api()
        urls = [receiver.url(i) for i in range(endpoints)]
        endpoint_ids = [stack.create_endpoint(url) for url in urls]
        if config.drain_adaptive and events_count * endpoints > config.drain_calibration:
            # Calibrated once, on the first shape: a delivery costs each contender about the same
            # whatever the number of endpoints (hookrelay drained 5,807-6,601/s in alternating
            # runs of both shapes, 2026-11-30), and the second calibration took 10-15 s of a run
            # that came within 30 s of the 10 minutes.
            reused = calibrated is not None
            if calibrated is None:
                calibrated = _calibrate(config, stack, receiver, endpoint_ids, urls, key)
            calibration, costs = calibrated
            events_count = _fitted_count(config, events_count, endpoints, costs)
            log(f"drain {key}: calibration{' (reused)' if reused else ''} hookrelay {calibration['rate'] or 0:.0f}/s, "
                f"peer {calibration['peer']['rate'] or 0:.0f}/s over {calibration['total']} deliveries -> "
                f"{events_count:,} events" + (" (scaled down to fit)" if events_count < requested else ""))
            calibration = {**calibration, "reused": reused}
        total = events_count * endpoints
        log(f"drain {events_count} events x {endpoints} endpoint(s) = {total} deliveries")
        events = make_events(events_count)
        items = [[url, event.id, event.body.decode()] for event in events for url in urls]
        items_path = str(LOGS / "drain" / f"items-{key}.json")
        (LOGS / "drain").mkdir(parents=True, exist_ok=True)
        with open(items_path, "w") as handle:
            json.dump(items, handle)
        for concurrency in config.ceiling_concurrencies:
            probe[concurrency] = ceiling_run(receiver, items_path, concurrency,
                                             limit=min(total, config.ceiling_probe_requests))["rate"]
        best = max(probe, key=lambda c: probe[c] or 0)
        log(f"drain {key}: aiohttp ceiling probe {({c: round(r or 0) for c, r in probe.items()})} -> {best}")
        for rep in range(config.reps):
            result = hookrelay_rep(stack, receiver, endpoint_ids, events, total, config)
            runs["hookrelay"].append(result)
            log(f"drain {key} rep {rep + 1} hookrelay: {result['rate'] or 0:.0f}/s "
                f"({result['delivered']}/{total} in {result['seconds'] or 0:.1f}s; scheduler re-sent "
                f"{result['scheduler_resent']})")
            result = peer_rep(receiver, urls, events, total, config, f"{key}-{rep + 1}")
            runs["peer"].append(result)
            log(f"drain {key} rep {rep + 1} peer: {result['rate'] or 0:.0f}/s ({result['delivered']}/{total})")
            result = ceiling_run(receiver, items_path, best)
            runs["ceiling"].append(result)
            log(f"drain {key} rep {rep + 1} aiohttp ceiling: {result['rate'] or 0:.0f}/s")
    finally:
        stack.stop_all()
        flush_redis(REDIS_HOOKRELAY_DB)
        flush_redis(REDIS_PEER_DB)
        (LOGS / "drain" / f"items-{key}.json").unlink(missing_ok=True)
    summary = {name: {"rate": median(r["rate"] for r in rs), "complete": all(r["complete"] for r in rs), "runs": rs}
               for name, rs in runs.items()}
    return {
        "events": events_count, "endpoints": endpoints, "deliveries": total, "requested_events": requested,
        "calibration": calibration,
        **summary,
        "scheduler_resent": median(r["scheduler_resent"] for r in runs["hookrelay"]),
        "ceiling_probe": {str(c): r for c, r in probe.items()},
        "ceiling_concurrency": best,
        "ceiling_ratio": ratio(summary["hookrelay"]["rate"], summary["ceiling"]["rate"]),
        "peer_ratio": ratio(summary["hookrelay"]["rate"], summary["peer"]["rate"]),
    }, calibrated


def run(config: Config, receiver: Receiver) -> dict:
    shapes, calibrated = {}, None
    for events_count, endpoints in ((config.drain_events, 1), (config.fanout_events, config.fanout_endpoints)):
        shapes[f"{endpoints}ep"], calibrated = drain_shape(
            config, receiver, events_count=events_count, endpoints=endpoints, calibrated=calibrated)
    # what actually ran (a calibration may have scaled the counts down)
    config.drain_events = shapes["1ep"]["events"]
    config.fanout_events = shapes[f"{config.fanout_endpoints}ep"]["events"]
    config.note_scaling()
    return {
        "shapes": shapes,
        "notes": [
            f"counts: the issue's unless calibration drains by hookrelay and the peer ({config.drain_calibration} "
            f"deliveries each, not counted; run once, before the first shape, and reused for the second) showed "
            f"that a shape's repetitions (hookrelay, peer and ceiling, set-up included) would exceed "
            f"{config.drain_shape_budget_s:g}s; then cut to fit, so that make bench stays under 10 minutes on a slow day",
            "backlog accepted by SQL, not HTTP: one INSERT…SELECT unnest() per 1,000 events into events "
            "(body = encode_event_body bytes) and deliveries, rows exactly as POST /v1/events writes them, "
            "then one `deliver` message per event sent with hookrelay's own enqueue_deliveries, as the API's "
            "outbox does after each commit",
            "hookrelay: api running; `hookrelay worker` (defaults) + `hookrelay scheduler` started after the "
            "backlog is in place; rate = deliveries / (last - first 2xx recorded in attempts)",
            "scheduler_resent: deliveries the scheduler re-sent during a hookrelay drain (its deliveries_sent "
            "log lines): anything still undelivered 10 s after its message was sent is sent again",
            "peer: `dramatiq bench.peer_actor` with Dramatiq's default processes/threads, one message per "
            "event x endpoint; ceiling: raw aiohttp at the probed best concurrency; their rate = deliveries / "
            "(last - first arrival at the receiver)",
        ],
    }
