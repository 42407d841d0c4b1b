"""Engines and sessions.

An async engine belongs to the event loop that first used it. In ``hookrelay dev`` the API's
loop and Dramatiq's worker loop share one process, so each loop gets its own ``Database``
(``database_for_current_loop``). SQLite is put in WAL mode with a busy timeout and every
transaction begins IMMEDIATE, so that the two loops queue for the write lock instead of failing.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
import psycopg.errors
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from hookrelay.errors import ServiceUnavailable
from hookrelay.settings import Settings


def _make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            # Take over transaction control from the driver so BEGIN IMMEDIATE can be issued.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # Enough pooled connections for the API's and a worker's concurrency: connections beyond
    # pool_size are closed after each use, and reconnecting on every request under load costs
    # more than the idle connections do.
    return create_async_engine(
        url,
        connect_args=_utc_session(url),
        pool_size=32,
        max_overflow=32,
        pool_pre_ping=False,
        pool_recycle=1800,
    )


def _utc_session(url: str) -> dict:
    """Every psycopg session in UTC, whatever the server's default: psycopg then hands
    timestamps back in ``datetime.UTC`` itself, as hookrelay stores and compares them, so the
    rows read by psycopg directly need no conversion (``deliveries.as_utc``: about 2% of a
    worker's CPU in a drain). The ``options`` of the URL (each of them, if given more than once)
    or else of ``PGOPTIONS`` are kept; other drivers are left as they are."""
    parsed = make_url(url)
    if parsed.get_driver_name() != "psycopg":
        return {}
    given = parsed.query.get("options")
    if isinstance(given, tuple):
        given = " ".join(given)
    given = given or os.environ.get("PGOPTIONS", "")
    return {"options": f"{given} -c TimeZone=UTC".strip()}


class Database:
    """One engine and the transaction helpers built on it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _make_engine(url)
        self.dialect = self.engine.dialect.name

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside BEGIN … COMMIT (ROLLBACK on error), returned to the pool after."""
        try:
            async with self.engine.begin() as connection:
                yield connection
        except OSError as exc:
            raise ServiceUnavailable("the database is unreachable") from exc

    @asynccontextmanager
    async def driver_connection(self, *, autocommit: bool = False) -> AsyncIterator[psycopg.AsyncConnection]:
        """PostgreSQL only: the pooled connection's own psycopg connection, for the statements
        in ``hookrelay.db.direct``. With ``autocommit`` each statement commits by itself (one
        round trip for a single INSERT instead of BEGIN, INSERT, COMMIT); without it, use
        ``driver.transaction()``."""
        if not self.is_postgres:
            raise RuntimeError("driver_connection is for PostgreSQL; use transaction()")
        try:
            async with self.engine.connect() as connection:
                pooled = await connection.get_raw_connection()
                driver: psycopg.AsyncConnection = pooled.driver_connection
                if not autocommit:
                    yield driver
                    return
                await driver.set_autocommit(True)
                try:
                    yield driver
                finally:
                    await driver.set_autocommit(False)
        except OSError as exc:
            raise ServiceUnavailable("the database is unreachable") from exc

    async def run_transaction(self, work, *, attempts: int = 3):
        """Run ``await work(connection)`` in a transaction, again from the start if PostgreSQL
        aborted it to break a deadlock: two writers locking an endpoint and its deliveries in
        opposite orders is rare, legitimate, and must not lose what the first try was to record."""

        async def in_transaction():
            async with self.transaction() as connection:
                return await work(connection)

        return await self.retry_on_deadlock(in_transaction, attempts=attempts)

    async def retry_on_deadlock(self, transaction, *, attempts: int = 3):
        """``await transaction()`` (a whole transaction), again if PostgreSQL aborted it for a
        deadlock or a serialization failure (:func:`retry_when_rolled_back`)."""
        return await retry_when_rolled_back(transaction, attempts=attempts)

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


async def retry_when_rolled_back(work, *, attempts: int = 3):
    """``await work()`` (a whole transaction or one autocommit statement), again if PostgreSQL
    rolled it back to break a deadlock or a serialization conflict: then nothing of it was
    written, so writing it again cannot write twice."""
    for attempt in range(1, attempts + 1):
        try:
            return await work()
        except (DBAPIError, psycopg.Error) as exc:
            cause = exc.orig if isinstance(exc, DBAPIError) else exc
            retryable = isinstance(cause, (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure))
            if not retryable or attempt == attempts:
                raise
            await asyncio.sleep(0.01 * attempt)


# Keyed weakly by the loop object: a closed loop's engines go with it, and a new loop that
# happens to get the same id() never inherits them.
_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Database]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def database_for_current_loop(settings: Settings) -> Database:
    loop = asyncio.get_running_loop()
    with _lock:
        databases = _by_loop.setdefault(loop, {})
        database = databases.get(settings.database_url)
        if database is None:
            database = databases[settings.database_url] = Database(settings.database_url)
        return database
