"""The submission ceiling: a bare Litestar ``POST /v1/jobs`` that does one raw psycopg INSERT.

No auth, no idempotency, no broker message, no ORM: what the hardware allows for "accept a
request and make it durable". Served the way ``hookrelay api`` is served (uvicorn, uvloop,
httptools with each response sent in one write, no access log, the same number of worker
processes)::

    BENCH_CEILING_DSN=postgresql://postgres@127.0.0.1:5432/db \
        python -m uvicorn bench.ceiling_app:create_app --factory --port N \
        --http hookrelay.api.http_protocol:CoalescedWritesProtocol

Connection pool: ``psycopg_pool.AsyncConnectionPool`` when the ``psycopg-pool`` package is
installed; otherwise an equivalent fixed pool of ``psycopg.AsyncConnection`` (a queue of
open autocommit connections), since it is not among hookrelay's dependencies.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import psycopg
from litestar import Litestar, Response, post
from psycopg.types.json import Jsonb

POOL_SIZE = 10  # hookrelay's engine keeps pool_size=10 per process too

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS bench_ceiling_jobs (
    id text PRIMARY KEY,
    type text NOT NULL,
    input jsonb NOT NULL,
    status text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""
INSERT = "INSERT INTO bench_ceiling_jobs (id, type, input, status) VALUES (%s, %s, %s, 'pending')"


def prepare(dsn: str) -> None:
    """Create the table (called once by the benchmark before the server starts)."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(CREATE_TABLE)


class _QueuePool:
    """Fixed-size pool of autocommit connections (used when psycopg_pool is absent)."""

    def __init__(self, dsn: str, size: int) -> None:
        self.dsn, self.size = dsn, size
        self._queue: asyncio.Queue[psycopg.AsyncConnection] = asyncio.Queue()
        self._all: list[psycopg.AsyncConnection] = []

    async def open(self) -> None:
        for _ in range(self.size):
            connection = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
            self._all.append(connection)
            self._queue.put_nowait(connection)

    async def close(self) -> None:
        for connection in self._all:
            await connection.close()

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection]:
        connection = await self._queue.get()
        try:
            yield connection
        finally:
            self._queue.put_nowait(connection)


def _make_pool(dsn: str):
    try:
        from psycopg_pool import AsyncConnectionPool
    except ImportError:
        return _QueuePool(dsn, POOL_SIZE)
    return AsyncConnectionPool(dsn, min_size=POOL_SIZE, max_size=POOL_SIZE, open=False,
                               kwargs={"autocommit": True})


class JobIn(msgspec.Struct):
    type: str
    input: Any = None


def create_app() -> Litestar:
    pool = _make_pool(os.environ["BENCH_CEILING_DSN"])

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await pool.open()
        try:
            yield
        finally:
            await pool.close()

    @post("/v1/jobs", status_code=202)
    async def submit(data: JobIn) -> Response[dict]:
        job_id = f"job_{uuid.uuid4().hex}"
        async with pool.connection() as connection:
            await connection.execute(INSERT, (job_id, data.type, Jsonb(data.input)))
        body = {"id": job_id, "type": data.type, "status": "pending", "status_url": f"/v1/jobs/{job_id}",
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        return Response(body, status_code=202, headers={"Location": body["status_url"]})

    return Litestar(route_handlers=[submit], lifespan=[lifespan], debug=False, logging_config=None)
