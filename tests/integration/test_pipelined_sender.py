"""``queue.sender.PipelinedSender`` against real Redis: the messages it writes are the ones
``RedisBroker.enqueue`` writes (same keys, same encoding, readable by Dramatiq's consumer), a
delay lands on the delay queue, and a Redis that lost its scripts is handled."""

from __future__ import annotations

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from hookrelay.queue.sender import PipelinedSender


def _broker(redis_url: str) -> RedisBroker:
    broker = RedisBroker(url=redis_url, namespace="hookrelay-test-sender")
    broker.declare_queue("deliveries")
    return broker


def _message(ids: list[str]) -> dramatiq.Message:
    return dramatiq.Message(queue_name="deliveries", actor_name="deliver", args=(ids,), kwargs={}, options={})


async def test_messages_land_as_dramatiq_would_store_them(redis_url):
    broker = _broker(redis_url)
    client = redis.Redis.from_url(redis_url)
    sender = PipelinedSender(broker)
    try:
        for number in range(5):
            sender.submit(_message([f"dlv_{number}"]), None)
        await sender.flush()
        assert client.llen("hookrelay-test-sender:deliveries") == 5
        consumer = broker.consume("deliveries", prefetch=10, timeout=1000)
        received = [next(consumer) for _ in range(5)]
        assert [m.args[0] for m in received] == [[f"dlv_{n}"] for n in range(5)]
        for message in received:
            consumer.ack(message)
        consumer.close()
        assert client.hlen("hookrelay-test-sender:deliveries.msgs") == 0
    finally:
        await sender.close()
        broker.flush_all()
        broker.close()


async def test_a_delay_goes_to_the_delay_queue_with_its_eta(redis_url):
    broker = _broker(redis_url)
    client = redis.Redis.from_url(redis_url)
    sender = PipelinedSender(broker)
    try:
        sender.submit(_message(["dlv_later"]), 60_000)
        await sender.flush()
        assert client.llen("hookrelay-test-sender:deliveries") == 0
        assert client.llen("hookrelay-test-sender:deliveries.DQ") == 1
        (data,) = client.hvals("hookrelay-test-sender:deliveries.DQ.msgs")
        assert dramatiq.Message.decode(data).options["eta"] > 0
    finally:
        await sender.close()
        broker.flush_all()
        broker.close()


async def test_a_redis_without_the_script_gets_it_loaded(redis_url):
    broker = _broker(redis_url)
    client = redis.Redis.from_url(redis_url)
    sender = PipelinedSender(broker)
    try:
        client.script_flush()
        sender.submit(_message(["dlv_after_flush"]), None)
        await sender.flush()
        assert client.llen("hookrelay-test-sender:deliveries") == 1
    finally:
        await sender.close()
        broker.flush_all()
        broker.close()


async def test_the_client_is_made_from_the_brokers_url_when_known(redis_url):
    broker = _broker(redis_url)
    sender = PipelinedSender(broker, redis_url)
    try:
        sender.submit(_message(["dlv_by_url"]), None)
        await sender.flush()
        assert redis.Redis.from_url(redis_url).llen("hookrelay-test-sender:deliveries") == 1
    finally:
        await sender.close()
        broker.flush_all()
        broker.close()
