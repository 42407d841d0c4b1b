"""Group commit: the same one-statement write of many concurrent requests, made once.

Under load, many requests of one process wait on the same kind of INSERT at the same time.
Written one by one, each costs a pool checkout, a statement and a commit (a WAL flush); written
together, one of each serves them all. So a request hands its rows to the process's
``GroupCommit`` and waits: when no write is in flight, the writer takes everything queued and
writes it as one autocommit statement; what arrives meanwhile goes in the next one. At low
load a batch is one request and nothing waits. Every request still waits for the commit that
carried its rows before it answers, so nothing is acknowledged that is not durable.

One statement is atomic: if PostgreSQL rejects it (bad data, a constraint), nothing of the
batch was written, and each request's rows are written again on their own, so only the
request at fault fails; if it rolled it back to break a deadlock, the batch is written again.
Any other error (the connection, the server) fails the whole batch: whether it committed is
unknown, and writing again could write twice.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import psycopg.errors

from hookrelay.db.engine import retry_when_rolled_back
from hookrelay.errors import ServiceUnavailable

Item = TypeVar("Item")
Result = TypeVar("Result")

# PostgreSQL refused the statement for what it holds: nothing of it was written.
REFUSED = (psycopg.errors.DataError, psycopg.errors.IntegrityError)


class GroupCommit(Generic[Item, Result]):
    """``await submit(item)`` returns the item's result once the statement that wrote it committed.

    ``write(items)`` writes the items in one statement and returns one result per item, in order.
    """

    def __init__(self, write: Callable[[list[Item]], Awaitable[list[Result]]], *, max_batch: int = 256) -> None:
        self._write = write
        self.max_batch = max_batch
        self.loop = asyncio.get_running_loop()
        self._queued: list[tuple[Item, asyncio.Future]] = []
        self._writer: asyncio.Task | None = None

    async def submit(self, item: Item) -> Result:
        future = self.loop.create_future()
        self._queued.append((item, future))
        if self._writer is None or self._writer.done():
            # A context of its own: the writer serves many requests, and must not log with the
            # request id of the first one.
            self._writer = self.loop.create_task(self._write_queued(), context=contextvars.Context())
        return await future

    async def _write_queued(self) -> None:
        batch: list[tuple[Item, asyncio.Future]] = []
        try:
            while self._queued:
                batch = self._queued[: self.max_batch]
                del self._queued[: self.max_batch]
                # A request cancelled while queued never answered: its rows are not written.
                batch = [(item, future) for item, future in batch if not future.done()]
                if batch:
                    await self._write_batch(batch)
        except BaseException:  # cancelled with its loop: whoever still waits gets a clear refusal
            for _, future in batch + self._queued:
                _settle(future, error=ServiceUnavailable("the server is shutting down; retry"))
            self._queued.clear()
            raise
        finally:
            self._writer = None

    async def _write_batch(self, batch: list[tuple[Item, asyncio.Future]]) -> None:
        try:
            results = await self._write_again_if_rolled_back([item for item, _ in batch])
        except REFUSED as exc:
            if len(batch) == 1:
                _settle(batch[0][1], error=exc)
                return
            for item, future in batch:
                try:
                    (result,) = await self._write_again_if_rolled_back([item])
                except Exception as own_error:
                    _settle(future, error=own_error)
                else:
                    _settle(future, result=result)
            return
        except Exception as exc:
            for _, future in batch:
                _settle(future, error=exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result=result)

    async def _write_again_if_rolled_back(self, items: list[Item]) -> list[Result]:
        return await retry_when_rolled_back(lambda: self._write(items))


def _settle(future: asyncio.Future, *, result: object = None, error: BaseException | None = None) -> None:
    if future.done():  # its request was cancelled meanwhile; the rows are written regardless
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def group_commit_for(owner: dict, name: str, write: Callable[[list], Awaitable[list]]) -> GroupCommit:
    """The ``name`` writer kept in ``owner`` for the running loop (a new one on another loop)."""
    writer = owner.get(name)
    if writer is None or writer.loop is not asyncio.get_running_loop():
        writer = owner[name] = GroupCommit(write)
    return writer
