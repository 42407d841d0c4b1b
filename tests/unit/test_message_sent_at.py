"""``current_message_sent_at`` inside an async actor, under hookrelay's own middleware: the
delivery actor relies on it to skip work its process already did."""

from __future__ import annotations

import time

import dramatiq
from dramatiq.brokers.stub import StubBroker

from hookrelay.queue.broker import _middleware, current_message_sent_at


def test_an_async_actor_sees_when_its_message_was_sent():
    broker = StubBroker(middleware=_middleware())
    broker.emit_after("process_boot")  # starts the AsyncIO middleware's event loop thread
    seen: list[float | None] = []

    async def handle() -> None:
        seen.append(current_message_sent_at())

    actor = dramatiq.Actor(handle, broker=broker, actor_name="handle", queue_name="q", priority=0, options={})
    worker = dramatiq.Worker(broker, worker_threads=1)
    worker.start()
    try:
        before = time.time()
        actor.send()
        after = time.time()
        broker.join("q")
        worker.join()
    finally:
        worker.stop()
        broker.emit_before("process_stop")
    assert len(seen) == 1
    assert seen[0] is not None and before - 0.001 <= seen[0] <= after + 0.001


def test_outside_a_message_there_is_no_send_time():
    assert current_message_sent_at() is None
