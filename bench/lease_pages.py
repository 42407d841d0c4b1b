"""What leasing and then succeeding a backlog writes, at a chosen fillfactor of ``deliveries``:
the WAL records per delivery by kind (``pg_walinspect``: HOT or not, index entries, row locks),
the PostgreSQL backend's CPU per delivery and the table's size afterwards. The figures behind
migration 0006. A diagnostic, not a benchmark figure.

    uv run python -m bench.lease_pages 60 50 60 50        # fillfactors, one fresh database each

Each run: a migrated database (``hookrelay db upgrade``) whose ``deliveries`` is set to the
fillfactor, 20,000 backlogged deliveries written as the drain scenario writes them, a
checkpoint, then 250 rounds of the worker's own claim statement (64 deliveries) each followed
by one UPDATE that records their success the way a success changes a row (status, attempts,
timestamps, lease cleared). The record statement's attempt rows are left out: they do not
depend on the fillfactor. The CPU figure moves with the host; the WAL counts do not.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg  # noqa: E402

from bench.backlog import insert_hookrelay_backlog, make_events  # noqa: E402
from bench.common import CLK_TCK, REDIS_HOOKRELAY_DB, drop_database, process_cpu_ticks  # noqa: E402
from bench.stack import HookrelayStack  # noqa: E402
from hookrelay.db.repositories.deliveries import CLAIM_SQL  # noqa: E402

BACKLOG = 20_000
ROUNDS = 250
BATCH = 64

RECORD_SUCCESS = """
UPDATE deliveries SET status = 'succeeded', attempts = attempts + 1, next_attempt_at = NULL,
       locked_until = NULL, enqueued_at = NULL, last_attempt_at = %(now)s, last_response_status = 204,
       updated_at = %(now)s
WHERE id = ANY(string_to_array(%(ids)s, ','))
"""


def _cpu_seconds(pid: int) -> float:
    return process_cpu_ticks(pid) / CLK_TCK


def measure(fillfactor: int) -> None:
    stack = HookrelayStack("lease_pages", api_workers=1, redis_db=REDIS_HOOKRELAY_DB)
    try:
        stack.create_database()
        stack.start_api()
        endpoint_id = stack.create_endpoint("http://127.0.0.1:9/lease-pages")
        with psycopg.connect(stack.dsn, autocommit=True) as connection:
            connection.execute(f"ALTER TABLE deliveries SET (fillfactor = {int(fillfactor)})")
        insert_hookrelay_backlog(stack.dsn, app_id=stack.app_id, endpoint_ids=[endpoint_id],
                                 events=make_events(BACKLOG))
        with psycopg.connect(stack.dsn, autocommit=True) as connection:
            connection.execute("SET TimeZone = UTC")
            connection.execute("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
            connection.execute("CHECKPOINT")
            backend = connection.execute("SELECT pg_backend_pid()").fetchone()[0]
            start_lsn = connection.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
            cpu_before = _cpu_seconds(backend)
            succeeded = 0
            for _ in range(ROUNDS):
                now = datetime.now(UTC)
                rows = connection.execute(CLAIM_SQL, {
                    "ids": "", "now": now, "until": now + timedelta(seconds=60), "fill": BATCH,
                }, prepare=True).fetchall()
                connection.execute(RECORD_SUCCESS, {"ids": ",".join(row[0] for row in rows), "now": now},
                                   prepare=True)
                succeeded += len(rows)
            cpu_used = _cpu_seconds(backend) - cpu_before
            end_lsn = connection.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
            kinds = connection.execute(
                'SELECT "resource_manager/record_type", count FROM pg_get_wal_stats(%s, %s, true) '
                "WHERE count > 0 ORDER BY count DESC LIMIT 8", (start_lsn, end_lsn),
            ).fetchall()
            pages = connection.execute("SELECT pg_relation_size('deliveries') / 8192").fetchone()[0]
        print(f"fillfactor {fillfactor}: {succeeded:,} deliveries leased and succeeded; PostgreSQL "
              f"{1e6 * cpu_used / succeeded:.1f} µs of CPU per delivery; deliveries ends at {pages:,} pages")
        print("  WAL records per delivery: " + ", ".join(f"{kind} {count / succeeded:.2f}" for kind, count in kinds))
    finally:
        stack.stop_all()
        drop_database(stack.db_name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("fillfactors", nargs="+", type=int, help="one run per value, in this order")
    for fillfactor in parser.parse_args().fillfactors:
        measure(fillfactor)


if __name__ == "__main__":
    main()
