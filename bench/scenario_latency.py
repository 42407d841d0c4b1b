"""(4) First-attempt latency at a steady rate: from the API's ``202`` to the receiver's arrival.

``latency_client.py`` (its own process) sends ``POST /v1/events`` open loop at ``rate`` per
second and records when each ``202`` was read and the event id it carries; the receiver
records when ``webhook-id`` = that id arrived. Latency = arrival − 202, both ``time.time()``
on this machine. It can be negative: the worker may deliver before the client has read the
API's answer (the answer is written after the commit and the broker message); the JSON also
gives "request sent → arrival", which cannot be.

The first ``latency_warmup_seconds`` at the same rate are not measured. The measured run is
cut into ``latency_windows`` equal consecutive windows; each percentile is the median over
the windows (the "repetitions"); whole-run percentiles and a per-second series are in the JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench.common import child_env, log, median, percentile
from bench.config import Config
from bench.stack import HookrelayStack, Receiver


def _percentiles(values: list[float]) -> dict:
    return {"p50_ms": percentile(values, 50), "p95_ms": percentile(values, 95), "p99_ms": percentile(values, 99),
            "count": len(values)}


def run(config: Config, stack: HookrelayStack, receiver: Receiver) -> dict:
    receiver.reset()
    total_seconds = config.latency_seconds + config.latency_warmup_seconds
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        output = handle.name
    try:
        argv = [sys.executable, "-m", "bench.latency_client", "--url", stack.base + "/v1/events",
                "--key", stack.api_key, "--rate", str(config.latency_rate), "--seconds", str(total_seconds),
                "--output", output]
        done = subprocess.run(argv, env=child_env(), capture_output=True, text=True, timeout=total_seconds + 90)
        if done.returncode != 0:
            raise RuntimeError(f"latency client failed:\n{done.stderr[-2000:]}")
        everything = json.loads(Path(output).read_text())
    finally:
        Path(output).unlink(missing_ok=True)
    warmup = int(config.latency_rate * config.latency_warmup_seconds)
    accepted_all = [r for r in everything if r["status"] == 202]
    receiver.wait_for(len(accepted_all), timeout=30)
    arrivals = receiver.arrivals()
    path = receiver.url(0).split(str(receiver.port), 1)[1]

    records = [{**r, "i": r["i"] - warmup} for r in everything if r["i"] >= warmup]
    accepted = [r for r in records if r["status"] == 202]
    refused = Counter(str(r["status"] or r["error"]) for r in records if r["status"] != 202)
    after_answer: list[tuple[int, float]] = []
    after_send: list[float] = []
    missing = 0
    for record in accepted:
        arrived = arrivals.get(f"{path} {record['id']}")
        if arrived is None:
            missing += 1
            continue
        after_answer.append((record["i"], (arrived - record["answered"]) * 1000.0))
        after_send.append((arrived - record["sent"]) * 1000.0)
    total = len(records)
    size = max(1, total // config.latency_windows)
    windows = []
    for w in range(config.latency_windows):
        low, high = w * size, ((w + 1) * size if w < config.latency_windows - 1 else total)
        windows.append(_percentiles([ms for i, ms in after_answer if low <= i < high]))
    per_second = []
    for second in range(int(config.latency_seconds)):
        low, high = second * config.latency_rate, (second + 1) * config.latency_rate
        values = [ms for i, ms in after_answer if low <= i < high]
        if values:
            per_second.append({"s": second, "n": len(values), "p50_ms": round(percentile(values, 50), 1),
                               "max_ms": round(max(values), 1)})
    api = [(r["answered"] - r["sent"]) * 1000.0 for r in accepted]
    sent_span = (records[-1]["sent"] - records[0]["sent"]) if len(records) > 1 else None
    result = {
        "p50_ms": median(w["p50_ms"] for w in windows),
        "p95_ms": median(w["p95_ms"] for w in windows),
        "p99_ms": median(w["p99_ms"] for w in windows),
        "overall": _percentiles([ms for _, ms in after_answer]),
        "windows": windows,
        "sent_to_arrival": _percentiles(after_send),
        "api_answer": _percentiles(api),
        "sent": total, "accepted": len(accepted), "not_accepted": total - len(accepted),
        "refused_by": dict(refused), "not_delivered": missing,
        "negative": sum(1 for _, ms in after_answer if ms < 0),
        "achieved_send_rate": (total - 1) / sent_span if sent_span else None,
        "per_second": per_second,
        "notes": [
            f"open loop at {config.latency_rate} events/s for {config.latency_seconds:g}s (after "
            f"{config.latency_warmup_seconds:g}s at the same rate, not measured) from a separate client process, "
            "1 endpoint, api + worker + scheduler running; each percentile is the median of "
            f"{config.latency_windows} consecutive equal windows of that run (overall percentiles alongside)",
        ],
    }
    log(f"first-attempt latency: p50 {result['p50_ms'] or 0:.1f} ms, p95 {result['p95_ms'] or 0:.1f} ms, "
        f"p99 {result['p99_ms'] or 0:.1f} ms ({len(after_answer)} delivered, {missing} missing, "
        f"{total - len(accepted)} refused)")
    return result
