"""(3) End to end: ``POST /v1/events`` (one event per request) as fast as the API answers while
``hookrelay worker`` + ``scheduler`` deliver them to the receiver.

"At the highest rate the API sustains" (the issue): 32 connections, the submission scenario's
load, leave a share of both cores idle here, because each request waits for the group commit
that carries it, and the commit waits for cores the workers hold. So short probes at
``e2e_connection_probes`` pick the connection count to run the repetitions at: the fewest
connections that deliver within ``E2E_NEAR_BEST`` of the most (with nothing left behind), so
that noise between probes does not buy latency for nothing. The ceiling app gets the same
chance: the reference is its best req/s over the same counts (scenario 1 runs it at each).
Every probe is kept in the JSON, and the 32-connection probe is in the table against the
ceiling app at 32.

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
from bench.common import log, median, ratio
from bench.config import Config
from bench.stack import HookrelayStack
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


# Probes within this share of the best count as equal; the fewest connections among them win.
E2E_NEAR_BEST = 0.05


def _best_connections(probes: list[dict]) -> int:
    """The fewest connections whose probe delivered within E2E_NEAR_BEST of the most while
    leaving nothing behind (any probe, if all left some)."""
    clean = [probe for probe in probes if probe["left_behind"] == 0] or probes
    most = max(probe["delivered_per_s"] or 0 for probe in clean)
    near = [probe for probe in clean if (probe["delivered_per_s"] or 0) >= (1 - E2E_NEAR_BEST) * most]
    return min(probe["connections"] for probe in near)


def run(config: Config, stack: HookrelayStack, ceiling_by_connections: dict[str, float]) -> dict:
    grace = config.e2e_grace_seconds
    one_rep(stack, config, seconds=config.wrk_warmup_seconds, grace=grace, connections=config.connections)  # warm-up
    probes = []
    for connections in config.e2e_connection_probes:
        probe = one_rep(stack, config, seconds=config.e2e_probe_seconds, grace=grace, connections=connections)
        probes.append(probe)
        log(f"end-to-end probe at {connections} connections: accepted {probe['accepted_per_s']:.0f}/s, "
            f"delivered {probe['delivered_per_s']:.0f}/s, left behind {probe['left_behind']}")
    connections = _best_connections(probes) if probes else config.connections
    runs = []
    for rep in range(config.reps):
        result = one_rep(stack, config, seconds=config.e2e_seconds, grace=grace, connections=connections)
        runs.append(result)
        log(f"end-to-end rep {rep + 1} at {connections} connections: accepted {result['accepted_per_s']:.0f}/s, delivered "
            f"{result['delivered_per_s']:.0f}/s, backlog at end {result['backlog_at_load_end']}, "
            f"left behind {result['left_behind']}")
    delivered = median(r["delivered_per_s"] for r in runs)
    at_submission_load = next((p for p in probes if p["connections"] == config.connections), None)
    ceiling_rps = max((rps for rps in ceiling_by_connections.values() if rps), default=None)
    ceiling_at_submission_load = ceiling_by_connections.get(str(config.connections))
    delivered_at_submission_load = (at_submission_load or {}).get("delivered_per_s")
    other_counts = sorted(int(count) for count in ceiling_by_connections if int(count) != config.connections)
    return {
        "connections": connections,
        "probes": probes,
        "submission_connections": config.connections,
        "delivered_per_s_at_submission_connections": delivered_at_submission_load,
        "ceiling_rps_at_submission_connections": ceiling_at_submission_load,
        "delivered_ratio_at_submission_connections": ratio(delivered_at_submission_load, ceiling_at_submission_load),
        "ceiling_rps_by_connections": ceiling_by_connections,
        "api_p99_ms": median(r["api_p99_ms"] for r in runs),
        "accepted_per_s": median(r["accepted_per_s"] for r in runs),
        "delivered_per_s": delivered,
        "backlog_at_load_end": median(r["backlog_at_load_end"] for r in runs),
        "left_behind": max(r["left_behind"] for r in runs),
        "ceiling_rps": ceiling_rps,
        "delivered_ratio": ratio(delivered, ceiling_rps),
        "runs": runs,
        "notes": [
            f"wrk -c{connections} POST /v1/events for {config.e2e_seconds:g}s per repetition, 1 endpoint; "
            "api + worker (defaults) + scheduler running; delivered/s counts 2xx attempts that started inside "
            f"the load window; left behind = undelivered {config.e2e_grace_seconds:g}s after the load stops",
            f"ceiling = the ceiling app's best req/s from scenario 1 (same run) over {config.connections} "
            f"connections and {', '.join(map(str, other_counts))} (each the median of {config.reps} repetitions)",
            f"connections: the fewest whose {config.e2e_probe_seconds:g}s probe at "
            f"{', '.join(str(c) for c in config.e2e_connection_probes)} delivered within {E2E_NEAR_BEST:.0%} of the "
            "most, nothing left behind; a probe is one run, not a median",
        ],
    }
