"""``queue.sender.PipelinedSender`` against real Redis: the messages it writes are the ones
``RedisBroker.enqueue`` writes (same keys, same encoding, readable by Dramatiq's consumer), a
delay lands on the delay queue, and a Redis that lost its scripts is handled."""

from __future__ import annotations

import dramatiq
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker

from hookrelay.queue.sender import PipelinedSender

NAMESPACE = "hookrelay-test-sender"


@pytest.fixture
def broker(redis_url):
    broker = RedisBroker(url=redis_url, namespace=NAMESPACE)
    broker.declare_queue("deliveries")
    yield broker
    broker.flush_all()
    broker.close()


@pytest.fixture
def client(redis_url) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


@pytest.fixture
async def sender(broker):
    sender = PipelinedSender(broker)
    yield sender
    await sender.close()


def _message(ids: list[str]) -> dramatiq.Message:
    return dramatiq.Message(queue_name="deliveries", actor_name="deliver", args=(ids,), kwargs={}, options={})


async def test_messages_land_as_dramatiq_would_store_them(broker, client, sender):
    for number in range(5):
        sender.submit(_message([f"dlv_{number}"]), None)
    await sender.flush()
    assert client.llen(f"{NAMESPACE}:deliveries") == 5
    consumer = broker.consume("deliveries", prefetch=10, timeout=1000)
    received = [next(consumer) for _ in range(5)]
    assert [m.args[0] for m in received] == [[f"dlv_{n}"] for n in range(5)]
    for message in received:
        consumer.ack(message)
    consumer.close()
    assert client.hlen(f"{NAMESPACE}:deliveries.msgs") == 0


async def test_a_delay_goes_to_the_delay_queue_with_its_eta(client, sender):
    sender.submit(_message(["dlv_later"]), 60_000)
    await sender.flush()
    assert client.llen(f"{NAMESPACE}:deliveries") == 0
    assert client.llen(f"{NAMESPACE}:deliveries.DQ") == 1
    (data,) = client.hvals(f"{NAMESPACE}:deliveries.DQ.msgs")
    assert dramatiq.Message.decode(data).options["eta"] > 0


async def test_a_redis_without_the_script_gets_it_loaded(client, sender):
    client.script_flush()
    sender.submit(_message(["dlv_after_flush"]), None)
    await sender.flush()
    assert client.llen(f"{NAMESPACE}:deliveries") == 1


async def test_the_client_is_made_from_the_brokers_url_when_known(broker, client, redis_url):
    sender = PipelinedSender(broker, redis_url)
    try:
        sender.submit(_message(["dlv_by_url"]), None)
        await sender.flush()
        assert client.llen(f"{NAMESPACE}:deliveries") == 1
    finally:
        await sender.close()
