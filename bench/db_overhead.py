"""How much the database layer costs per statement: SQLAlchemy's asyncio engine (as hookrelay
uses it) against a raw psycopg pool, 32 concurrent tasks, 3 seconds each, on the local server.

    uv run --with psycopg-pool python bench/db_overhead.py [postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import asyncio
import sys
import time

from sqlalchemy import text

from hookrelay.db.engine import Database


async def rate(operation, tasks: int = 32, seconds: float = 3.0) -> float:
    done = 0
    stop = time.perf_counter() + seconds

    async def loop() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await operation()
            done += 1

    await asyncio.gather(*(loop() for _ in range(tasks)))
    return done / seconds


async def main(dsn: str) -> None:
    import psycopg_pool

    database = Database(dsn.replace("postgresql://", "postgresql+psycopg://", 1))

    async def through_sqlalchemy() -> None:
        async with database.transaction() as connection:
            await connection.execute(text("SELECT 1"))

    pool = psycopg_pool.AsyncConnectionPool(dsn, min_size=10, max_size=32, open=False)
    await pool.open()

    async def through_psycopg() -> None:
        async with pool.connection() as connection, connection.transaction():
            await connection.execute("SELECT 1")

    print(f"sqlalchemy asyncio engine: {await rate(through_sqlalchemy):8.0f} transactions/s")
    print(f"raw psycopg pool:          {await rate(through_psycopg):8.0f} transactions/s")
    await pool.close()
    await database.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "postgresql://postgres@127.0.0.1:5432/postgres"))
