"""One production-shaped stack (api + worker + scheduler, 1 endpoint on the receiver) for
(3) end to end, (4) first-attempt latency and (6) worker memory.

(6): the worker's RSS (sum over its Dramatiq processes) once it has booted and is idle, and
again after the end-to-end throughput runs and the latency run.
"""

from __future__ import annotations

import time

from bench import scenario_end_to_end, scenario_latency
from bench.common import REDIS_HOOKRELAY_DB, flush_redis, log, phase, ratio
from bench.config import Config
from bench.stack import HookrelayStack, Receiver


def run(config: Config, receiver: Receiver) -> dict:
    flush_redis(REDIS_HOOKRELAY_DB)
    stack = HookrelayStack("live", api_workers=config.api_workers, redis_db=REDIS_HOOKRELAY_DB)
    results: dict = {}
    try:
        stack.start_live(receiver.url(0))
        time.sleep(1.0)
        rss_start = stack.worker_rss_kib()
        log(f"worker RSS at start: {rss_start['total_kib'] / 1024:.0f} MiB over {rss_start['processes']} processes")
        if config.wants("end_to_end"):
            phase("end_to_end")
            results["end_to_end"] = scenario_end_to_end.run(config, stack)
            results["end_to_end"]["scheduler_resent"] = stack.scheduler_resent()
        rss_mid = stack.worker_rss_kib()
        if config.wants("latency"):
            phase("latency")
            before = stack.scheduler_resent()
            results["latency"] = scenario_latency.run(config, stack, receiver)
            results["latency"]["scheduler_resent"] = stack.scheduler_resent() - before
        rss_after = stack.worker_rss_kib()
        log(f"worker RSS after: {rss_after['total_kib'] / 1024:.0f} MiB")
        results["memory"] = {
            "start": rss_start, "after_end_to_end": rss_mid, "after": rss_after,
            "ratio": ratio(rss_after["total_kib"], rss_start["total_kib"]),
            "max_process_ratio": ratio(rss_after["max_kib"], rss_start["max_kib"]),
            "notes": ["sum of VmRSS over the `hookrelay worker` Dramatiq processes: idle after boot, then after "
                      "the end-to-end runs and the latency run"],
        }
    finally:
        stack.stop_all()
        flush_redis(REDIS_HOOKRELAY_DB)
    return results
