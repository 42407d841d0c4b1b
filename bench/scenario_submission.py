"""(1) Job submission: ``POST /v1/jobs`` with wrk at 32 connections, hookrelay vs the ceiling app.

hookrelay runs ``hookrelay api`` alone (no worker), so the figure is the API's; the ceiling app
is ``bench/ceiling_app.py`` (one raw psycopg INSERT). Both are warmed up, then measured in
alternation (hookrelay, ceiling, hookrelay, …) so background load hits both alike.
"""

from __future__ import annotations

import importlib.util
import json

from bench.common import LOGS, REDIS_HOOKRELAY_DB, flush_redis, log, median, ratio
from bench.config import Config
from bench.stack import CeilingApp, HookrelayStack
from bench.wrk import run_wrk

JOB_BODY = json.dumps({"type": "demo.echo", "input": {"order": "ord_0001", "amount": 1200, "currency": "usd"}})


def summarize(runs: list[dict]) -> dict:
    return {
        "rps": median(r["rps"] for r in runs),
        "p50_ms": median(r["p50_ms"] for r in runs),
        "p99_ms": median(r["p99_ms"] for r in runs),
        "errors": sum(sum(r["errors"].values()) for r in runs),
        "runs": runs,
    }


def run(config: Config) -> dict:
    flush_redis(REDIS_HOOKRELAY_DB)
    stack = HookrelayStack("submission", api_workers=config.submission_api_workers, redis_db=REDIS_HOOKRELAY_DB)
    ceiling = None
    try:
        stack.create_database()
        stack.start_api()
        ceiling = CeilingApp("hookrelay_bench_ceiling", workers=config.submission_api_workers, log_dir=LOGS / "submission")
        targets = {
            "hookrelay": (stack.base + "/v1/jobs", stack.headers()),
            "ceiling": (ceiling.base + "/v1/jobs", {}),
        }
        wrk = dict(body=JOB_BODY, connections=config.connections, threads=config.wrk_threads)
        for url, headers in targets.values():
            run_wrk(url, headers=headers, seconds=config.wrk_warmup_seconds, **wrk)
        runs: dict[str, list[dict]] = {name: [] for name in targets}
        for rep in range(config.reps):
            for name, (url, headers) in targets.items():
                result = run_wrk(url, headers=headers, seconds=config.wrk_seconds, **wrk)
                runs[name].append(result)
                log(f"submission rep {rep + 1} {name}: {result['rps']:.0f} req/s, p50 {result['p50_ms']:.1f} ms, "
                    f"p99 {result['p99_ms']:.1f} ms")
    finally:
        stack.stop_all()
        if ceiling is not None:
            ceiling.stop()
        flush_redis(REDIS_HOOKRELAY_DB)
    hookrelay, ceiling_summary = summarize(runs["hookrelay"]), summarize(runs["ceiling"])
    return {
        "hookrelay": hookrelay,
        "ceiling": ceiling_summary,
        "rps_ratio": ratio(hookrelay["rps"], ceiling_summary["rps"]),
        "p99_ratio": ratio(hookrelay["p99_ms"], ceiling_summary["p99_ms"]),
        "notes": [
            f"wrk -t{config.wrk_threads} -c{config.connections} -d{config.wrk_seconds:g}s, "
            f"{config.reps} alternating repetitions after a {config.wrk_warmup_seconds:g}s warm-up each",
            f"both served by uvicorn (uvloop, httptools, no access log) with {config.submission_api_workers} "
            "worker process(es): one per core, as uvicorn is deployed",
            "ceiling pool: " + ("psycopg_pool.AsyncConnectionPool (10)" if importlib.util.find_spec("psycopg_pool")
                                else "psycopg_pool not installed: a fixed queue of 10 psycopg.AsyncConnection"),
            "hookrelay: `hookrelay api` alone (no worker running), API key auth, demo.echo job, "
            "message sent to Redis after commit; ceiling: one INSERT, no auth, no broker",
        ],
    }
