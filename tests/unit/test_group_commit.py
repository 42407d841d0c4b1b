"""Group commit: concurrent submissions share one write, each gets its own result, a refused
batch is retried item by item, and nothing is written for a caller that gave up while queued."""

from __future__ import annotations

import asyncio

import psycopg.errors
import pytest

from hookrelay.db.group_commit import GroupCommit, group_commit_for
from hookrelay.errors import ServiceUnavailable


class Store:
    """A write function that records its batches; ``gate`` holds a write in flight."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.refuse: set[str] = set()
        self.fail_with: Exception | None = None

    async def write(self, items: list[str]) -> list[str]:
        self.batches.append(list(items))
        await self.gate.wait()
        if self.fail_with is not None:
            raise self.fail_with
        if self.refuse.intersection(items):
            raise psycopg.errors.CheckViolation("refused")
        return [f"stored:{item}" for item in items]


async def test_requests_arriving_during_a_write_share_the_next_one() -> None:
    store = Store()
    writer = GroupCommit(store.write)
    store.gate.clear()
    first = asyncio.create_task(writer.submit("a"))
    await asyncio.sleep(0)  # the writer takes "a" and waits in its write
    await asyncio.sleep(0)
    rest = [asyncio.create_task(writer.submit(name)) for name in "bcdef"]
    await asyncio.sleep(0)
    store.gate.set()
    results = await asyncio.gather(first, *rest)
    assert results == [f"stored:{name}" for name in "abcdef"]
    assert store.batches == [["a"], ["b", "c", "d", "e", "f"]]


async def test_a_lone_request_is_written_at_once() -> None:
    store = Store()
    assert await GroupCommit(store.write).submit("solo") == "stored:solo"
    assert store.batches == [["solo"]]


async def test_batches_are_cut_at_max_batch() -> None:
    store = Store()
    writer = GroupCommit(store.write, max_batch=2)
    results = await asyncio.gather(*(writer.submit(str(n)) for n in range(5)))
    assert results == [f"stored:{n}" for n in range(5)]
    assert [len(batch) for batch in store.batches] == [2, 2, 1]


async def test_a_refused_batch_is_written_again_item_by_item() -> None:
    store = Store()
    store.refuse = {"bad"}
    writer = GroupCommit(store.write)
    outcomes = await asyncio.gather(*(writer.submit(n) for n in ("x", "bad", "y")), return_exceptions=True)
    assert outcomes[0] == "stored:x" and outcomes[2] == "stored:y"
    assert isinstance(outcomes[1], psycopg.errors.CheckViolation)
    assert store.batches == [["x", "bad", "y"], ["x"], ["bad"], ["y"]]


async def test_any_other_failure_fails_the_whole_batch_without_writing_again() -> None:
    store = Store()
    store.fail_with = psycopg.OperationalError("connection lost")
    writer = GroupCommit(store.write)
    outcomes = await asyncio.gather(*(writer.submit(n) for n in "ab"), return_exceptions=True)
    assert all(isinstance(outcome, psycopg.OperationalError) for outcome in outcomes)
    assert store.batches == [["a", "b"]]  # whether it committed is unknown: not written twice


async def test_a_caller_cancelled_while_queued_is_not_written() -> None:
    store = Store()
    writer = GroupCommit(store.write)
    store.gate.clear()
    first = asyncio.create_task(writer.submit("a"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    gone = asyncio.create_task(writer.submit("gone"))
    kept = asyncio.create_task(writer.submit("kept"))
    await asyncio.sleep(0)
    gone.cancel()
    store.gate.set()
    assert await first == "stored:a" and await kept == "stored:kept"
    assert store.batches == [["a"], ["kept"]]


async def test_callers_still_waiting_when_the_writer_is_cancelled_get_a_503() -> None:
    store = Store()
    writer = GroupCommit(store.write)
    store.gate.clear()
    waiting = [asyncio.create_task(writer.submit(n)) for n in "ab"]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    writer._writer.cancel()
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(outcome, ServiceUnavailable) for outcome in outcomes)
    store.gate.set()
    assert await writer.submit("after") == "stored:after"  # a new writer starts for later callers
    assert store.batches == [["a", "b"], ["after"]]


def test_each_event_loop_gets_its_own_writer() -> None:
    owner: dict = {}

    async def writer_here() -> GroupCommit:
        return group_commit_for(owner, "jobs", Store().write)

    async def same_loop_twice() -> tuple[GroupCommit, GroupCommit]:
        return await writer_here(), await writer_here()

    first, again = asyncio.run(same_loop_twice())
    assert first is again
    other = asyncio.run(writer_here())
    assert other is not first


@pytest.mark.parametrize("size", [1, 3])
async def test_results_keep_their_callers_order(size: int) -> None:
    store = Store()
    writer = GroupCommit(store.write)
    names = [f"n{i}" for i in range(size)]
    assert await asyncio.gather(*(writer.submit(n) for n in names)) == [f"stored:{n}" for n in names]


async def test_a_batch_rolled_back_by_a_deadlock_is_written_again_whole() -> None:
    store = Store()
    deadlocks = [psycopg.errors.DeadlockDetected("deadlock detected")]
    write = store.write

    async def deadlocks_once(items: list[str]) -> list[str]:
        if deadlocks:
            store.batches.append(list(items))
            raise deadlocks.pop()
        return await write(items)

    writer = GroupCommit(deadlocks_once)
    assert await asyncio.gather(*(writer.submit(n) for n in "ab")) == ["stored:a", "stored:b"]
    assert store.batches == [["a", "b"], ["a", "b"]]


async def test_the_writer_does_not_carry_the_first_callers_context() -> None:
    import contextvars

    request_id = contextvars.ContextVar("request_id", default=None)
    seen: list[object] = []

    async def write(items: list[str]) -> list[None]:
        seen.append(request_id.get())
        return [None] * len(items)

    writer = GroupCommit(write)
    request_id.set("req_1")
    await writer.submit("a")
    assert seen == [None]
