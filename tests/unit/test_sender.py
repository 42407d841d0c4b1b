"""``queue.sender``: off an event loop (or with the in-process broker) a message is enqueued
at once, as ``Actor.send`` would."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.stub import StubBroker

from hookrelay.queue import sender


def test_off_a_loop_the_message_is_enqueued_directly(monkeypatch):
    broker = StubBroker()
    monkeypatch.setattr(dramatiq, "get_broker", lambda: broker)
    broker.declare_queue("q")
    message = dramatiq.Message(queue_name="q", actor_name="a", args=(["dlv_1"],), kwargs={}, options={})
    sender.send(message)
    assert broker.queues["q"].qsize() == 1


def test_a_delay_goes_to_the_delay_queue(monkeypatch):
    broker = StubBroker()
    monkeypatch.setattr(dramatiq, "get_broker", lambda: broker)
    broker.declare_queue("q")
    message = dramatiq.Message(queue_name="q", actor_name="a", args=(["dlv_1"],), kwargs={}, options={})
    sender.send(message, delay_ms=5_000)
    assert broker.queues["q"].qsize() == 0
    assert broker.queues["q.DQ"].qsize() == 1
