"""Client CPU of one event write in three shapes, on the local PostgreSQL, one connection, in
scratch tables shaped like ``events`` and ``deliveries`` (dropped afterwards):

* pipelined: BEGIN, the endpoint lookup, INSERT event, INSERT delivery, COMMIT in pipeline mode
  (what ``POST /v1/events`` did before);
* one statement, arrays: the lookup, then ``WITH … INSERT`` with the delivery rows as one array
  per column (``unnest``);
* one statement, JSON: the lookup, then ``WITH … INSERT`` with the delivery rows as one JSON
  parameter (``jsonb_to_recordset``), what ``hookrelay.db.direct`` does now.

    uv run python bench/write_shapes.py [postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from datetime import UTC, datetime

import msgspec
import psycopg
from psycopg.types.json import Jsonb

ROUNDS = 3000
DATA = {"invoice": "in_0000000001", "amount": 1200, "lines": [{"sku": "plan-pro", "quantity": 1}]}


async def main(dsn: str) -> None:
    connection = await psycopg.AsyncConnection.connect(dsn)
    suffix = uuid.uuid4().hex[:8]
    events, deliveries, endpoints = f"ws_events_{suffix}", f"ws_deliveries_{suffix}", f"ws_endpoints_{suffix}"
    await connection.execute(f"CREATE TABLE {endpoints} (id text PRIMARY KEY, app_id text, event_types text[])")
    await connection.execute(f"INSERT INTO {endpoints} VALUES ('ep_1', 'app_1', '{{*}}')")
    await connection.execute(f"CREATE TABLE {events} (id text PRIMARY KEY, app_id text, type text, data jsonb, "
                             "created_at timestamptz)")
    await connection.execute(f"CREATE TABLE {deliveries} (id text PRIMARY KEY, event_id text REFERENCES {events}, "
                             "endpoint_id text, status text, created_at timestamptz)")
    await connection.commit()
    lookup = f"SELECT id, event_types FROM {endpoints} WHERE app_id = %s"
    insert_event = f"INSERT INTO {events} (id, app_id, type, data, created_at) VALUES (%s, %s, %s, %s, %s)"

    async def pipelined() -> None:
        async with connection.pipeline(), connection.transaction():
            endpoint = (await (await connection.execute(lookup, ("app_1",))).fetchall())[0][0]
            event_id, now = uuid.uuid4().hex, datetime.now(UTC)
            await connection.execute(insert_event, (event_id, "app_1", "invoice.paid", Jsonb(DATA), now))
            await connection.execute(f"INSERT INTO {deliveries} VALUES (%s, %s, %s, %s, %s)",
                                     (uuid.uuid4().hex, event_id, endpoint, "pending", now))

    async def one_statement_arrays() -> None:
        endpoint = (await (await connection.execute(lookup, ("app_1",))).fetchall())[0][0]
        event_id, now = uuid.uuid4().hex, datetime.now(UTC)
        await connection.execute(
            f"WITH e AS ({insert_event}) INSERT INTO {deliveries} SELECT * FROM "
            "unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::timestamptz[])",
            (event_id, "app_1", "invoice.paid", Jsonb(DATA), now,
             [uuid.uuid4().hex], [event_id], [endpoint], ["pending"], [now]),
        )

    async def one_statement_json() -> None:
        endpoint = (await (await connection.execute(lookup, ("app_1",))).fetchall())[0][0]
        event_id, now = uuid.uuid4().hex, datetime.now(UTC)
        rows = [{"id": uuid.uuid4().hex, "event_id": event_id, "endpoint_id": endpoint, "status": "pending",
                 "created_at": now}]
        await connection.execute(
            f"WITH e AS ({insert_event}) INSERT INTO {deliveries} SELECT r.* FROM jsonb_to_recordset(%s::jsonb) "
            "AS r(id text, event_id text, endpoint_id text, status text, created_at timestamptz)",
            (event_id, "app_1", "invoice.paid", Jsonb(DATA), now, msgspec.json.encode(rows).decode()),
        )

    try:
        for name, write, autocommit in (("pipelined transaction", pipelined, False),
                                        ("one statement, arrays", one_statement_arrays, True),
                                        ("one statement, JSON", one_statement_json, True)):
            await connection.set_autocommit(autocommit)
            for _ in range(200):  # warm-up: prepared statements, caches
                await write()
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(ROUNDS):
                await write()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            print(f"{name:24s} client CPU {1000 * cpu / ROUNDS:.3f} ms, wall {1000 * wall / ROUNDS:.3f} ms per event")
    finally:
        await connection.set_autocommit(True)
        await connection.execute(f"DROP TABLE {deliveries}, {events}, {endpoints}")
        await connection.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "postgresql://postgres@127.0.0.1:5432/postgres"))
