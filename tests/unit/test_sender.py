"""``queue.sender``: off an event loop (or with the in-process broker) a message is enqueued
at once, as ``Actor.send`` would."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.stub import StubBroker

from hookrelay.queue import sender


def _actor(broker: StubBroker) -> dramatiq.Actor:
    def handle(ids: list[str]) -> None:
        return None

    return dramatiq.Actor(handle, broker=broker, actor_name="handle", queue_name="q", priority=0, options={})


def test_off_a_loop_the_message_is_enqueued_directly_on_the_actors_broker(monkeypatch):
    broker, other = StubBroker(), StubBroker()
    # Another broker installed globally later (as a second Dramatiq app in one process would)
    # must not receive the actor's messages.
    monkeypatch.setattr(dramatiq, "get_broker", lambda: other)
    sender.send(_actor(broker), ["dlv_1"])
    assert broker.queues["q"].qsize() == 1
    assert "q" not in other.queues


def test_a_delay_goes_to_the_delay_queue():
    broker = StubBroker()
    sender.send(_actor(broker), ["dlv_1"], delay_ms=5_000)
    assert broker.queues["q"].qsize() == 0
    assert broker.queues["q.DQ"].qsize() == 1
