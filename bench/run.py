"""``make bench``: every scenario of the benchmark in one run, a table, and results/latest.json.

    uv run python -m bench [--quick] [--only submission,drain,end_to_end,latency,memory,growth]
    uv run python bench/run.py --help

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust), Redis on 127.0.0.1:6379 (uses
databases 7 and 8) and ``wrk``. Creates and drops databases named ``hookrelay_bench_*``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench.*` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench.common as common  # noqa: E402
from bench.common import (  # noqa: E402
    DB_PREFIX,
    LOGS,
    PG_ADMIN_DSN,
    RESULTS,
    drop_database,
    log,
    machine,
    versions,
)
from bench.config import Config  # noqa: E402

SCENARIOS = ("submission", "drain", "end_to_end", "latency", "memory", "growth")


def parse_args(argv: list[str] | None) -> Config:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke test: small counts, short runs (~2-3 min)")
    parser.add_argument("--only", default="", help=f"comma list of {', '.join(SCENARIOS)}")
    parser.add_argument("--reps", type=int, help="repetitions per figure (default 3; at least 3 for a real run)")
    parser.add_argument("--api-workers", type=int,
                        help="hookrelay api processes where workers share the machine (default 1)")
    parser.add_argument("--submission-api-workers", type=int,
                        help="processes for hookrelay api and the ceiling app in the submission scenario "
                             "(default: one per core)")
    parser.add_argument("--drain-events", type=int, help="events for the 1-endpoint drain")
    parser.add_argument("--fanout-events", type=int, help="events for the 4-endpoint drain")
    parser.add_argument("--latency-seconds", type=float, help="length of the steady first-attempt run")
    parser.add_argument("--growth-large", type=int, help="rows per table for the large growth measurement")
    parser.add_argument("--output", default=str(RESULTS / "latest.json"), help="where to write the JSON")
    parser.add_argument("--keep-databases", action="store_true", help="leave hookrelay_bench_* databases behind")
    args = parser.parse_args(argv)
    config = Config.quick_config() if args.quick else Config()
    for name in ("reps", "api_workers", "submission_api_workers", "drain_events", "fanout_events", "latency_seconds", "growth_large"):
        value = getattr(args, name)
        if value is not None:
            setattr(config, name, value)
    only = tuple(s.strip() for s in args.only.split(",") if s.strip())
    unknown = set(only) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    config.only = only
    config.note_scaling()
    config.output = args.output  # type: ignore[attr-defined]
    config.keep_databases = args.keep_databases  # type: ignore[attr-defined]
    return config


def preflight() -> None:
    import psycopg
    import redis

    from bench.wrk import require_wrk

    require_wrk()
    with psycopg.connect(PG_ADMIN_DSN, connect_timeout=5) as connection:
        connection.execute("SELECT 1")
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_timeout=5)
    try:
        client.ping()
    finally:
        client.close()


def _guarded(name: str, errors: dict, function, *args):
    started = time.monotonic()
    try:
        result = function(*args)
    except Exception:  # one broken scenario must not hide the others' figures
        errors[name] = traceback.format_exc()
        log(f"{name} FAILED:\n{errors[name]}")
        return None
    log(f"{name} done in {time.monotonic() - started:.0f}s")
    return result


def _cleanup_databases() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as connection:
        names = [r[0] for r in connection.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (DB_PREFIX + "%",)).fetchall()]
    for name in names:
        drop_database(name)


def _checkpoint(phase_seconds: dict[str, float], before: str) -> None:
    phase_seconds[f"checkpoint before {before}"] = common.checkpoint()


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    wall_started = time.monotonic()
    started_at = datetime.now(UTC)
    preflight()
    shutil.rmtree(LOGS, ignore_errors=True)  # logs of the last run only
    LOGS.mkdir(parents=True, exist_ok=True)
    from bench import scenario_drain, scenario_growth, scenario_live, scenario_submission
    from bench.report import build_rows, render
    from bench.stack import Receiver

    info = {"date": started_at.isoformat(timespec="seconds"), "machine": machine(), "versions": versions()}
    log(f"hookrelay benchmark ({'quick' if config.quick else 'full'}) on {info['machine']['cpu_count']} CPUs, "
        f"load {info['machine']['loadavg_at_start']}")
    if config.scaled:
        log(f"counts differing from the issue: {config.scaled}")
    results: dict = {}
    errors: dict[str, str] = {}
    common.NOISE = common.NoiseMonitor()
    common.NOISE.start()
    receiver = Receiver(LOGS)
    phase_seconds: dict[str, float] = {}
    try:
        if config.wants("submission"):
            common.phase("submission")
            _checkpoint(phase_seconds, "submission")
            t = time.monotonic()
            results["submission"] = _guarded("submission", errors, scenario_submission.run, config)
            phase_seconds["submission"] = time.monotonic() - t
        if config.wants("drain"):
            common.phase("drain")
            _checkpoint(phase_seconds, "drain")
            t = time.monotonic()
            results["drain"] = _guarded("drain", errors, scenario_drain.run, config, receiver)
            phase_seconds["drain"] = time.monotonic() - t
        if config.wants("end_to_end") or config.wants("latency") or config.wants("memory"):
            common.phase("live stack setup")
            _checkpoint(phase_seconds, "live")
            t = time.monotonic()
            live = _guarded("end_to_end/latency/memory", errors, scenario_live.run, config, receiver)
            results.update(live or {})
            phase_seconds["end_to_end+latency+memory"] = time.monotonic() - t
        if config.wants("growth"):
            common.phase("growth")
            _checkpoint(phase_seconds, "growth")
            t = time.monotonic()
            results["growth"] = _guarded("growth", errors, scenario_growth.run, config, receiver)
            phase_seconds["growth"] = time.monotonic() - t
    finally:
        common.phase("teardown")
        receiver.stop()
        common.NOISE.stop()
        if not config.keep_databases:  # type: ignore[attr-defined]
            _cleanup_databases()
    results = {k: v for k, v in results.items() if v is not None}
    rows = build_rows(results)
    wall = time.monotonic() - wall_started
    document = {
        **info,
        "wall_seconds": round(wall, 1),
        "phase_seconds": {k: round(v, 1) for k, v in phase_seconds.items()},
        "loadavg_at_end": __import__("os").getloadavg(),
        "mode": "quick" if config.quick else "full",
        "settings": config.as_dict(),
        "scaled_from_issue": config.scaled,
        "foreign_cpu": common.NOISE.report(),
        "table": [{k: v for k, v in row.items() if k != "digits"} for row in rows],
        "results": results,
        "errors": errors,
    }
    output = Path(config.output)  # type: ignore[attr-defined]
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2, default=str) + "\n")
    print()
    cpu = info["machine"]
    print(f"hookrelay benchmark — {info['date']} — {cpu['cpu_count']} CPUs ({cpu['cpu_model']}, family "
          f"{cpu.get('cpu_family')} model {cpu.get('cpu_model_number')}; a 1M-step Python loop takes "
          f"{cpu.get('python_loop_ms')} ms), load avg at start {tuple(round(x, 2) for x in cpu['loadavg_at_start'])}")
    print(f"mode: {document['mode']}, {config.reps} repetitions per figure (median), "
          f"api processes: {config.submission_api_workers} in submission, {config.api_workers} elsewhere, "
          f"wall time {wall:.0f}s")
    if config.scaled:
        print("counts scaled from the issue's: " + ", ".join(
            f"{k} {v['issue']:,} -> {v['this_run']:,}" for k, v in config.scaled.items()))
    print()
    print(render(rows, errors))
    print()
    noisy = {k: v for k, v in document["foreign_cpu"].items() if v["foreign_cpu_s"] >= 1.0}
    if noisy:
        print("WARNING: processes this run did not start used CPU meanwhile (figures are noisier):")
        for name, value in noisy.items():
            kinds = ", ".join(f"{k} {s:.0f}s" for k, s in value["by_kind"].items())
            print(f"  {name}: {value['foreign_cpu_s']:.0f} CPU-s ({kinds})")
    else:
        print("no other busy process seen during the run")
    stolen = {k: v["stolen_cpu_s"] for k, v in document["foreign_cpu"].items() if v["stolen_cpu_s"] >= 1.0}
    if stolen:
        print("WARNING: the hypervisor gave CPU time to other guests meanwhile (steal; figures are noisier): "
              + ", ".join(f"{name} {seconds:.0f} CPU-s" for name, seconds in stolen.items()))
    print(f"written: {output}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
