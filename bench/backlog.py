"""The backlog every drain contender gets: the same events, the same webhook bodies.

hookrelay's copy is written the way ``POST /v1/events`` writes it (``services/events.py``:
one ``events`` row with the exact body bytes from ``encode_event_body`` and one ``pending``
delivery per endpoint, ``enqueued_at`` set because a message follows the commit), but with one
batched ``INSERT … SELECT unnest(…)`` per 1,000 events instead of 1,000 API requests; then the
outbox messages are sent exactly as the API would send them after each commit
(``hookrelay.queue.actors.enqueue_deliveries`` with that event's delivery ids).
"""

from __future__ import annotations

import asyncio

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec
import psycopg

from bench.common import redis_url

BATCH = 1000
EVENT_TYPE = "invoice.paid"


@dataclass(frozen=True)
class BacklogEvent:
    id: str
    created_at: datetime
    data: dict
    body: bytes


def sample_data(index: int) -> dict:
    """A typical small business event (~300 bytes of body)."""
    return {
        "invoice": f"in_{index:010d}",
        "customer": {"id": f"cus_{index % 997:06d}", "email": f"billing+{index % 997}@example.com"},
        "amount": 1200 + index % 500,
        "currency": "usd",
        "lines": [{"sku": "plan-pro", "quantity": 1, "unit_amount": 1200}],
        "paid": True,
    }


def make_events(count: int) -> list[BacklogEvent]:
    from hookrelay.delivery.request import encode_event_body
    from hookrelay.domain.ids import new_id
    from hookrelay.domain.timestamps import format_timestamp

    now = datetime.now(UTC)
    events = []
    for index in range(count):
        event_id = new_id("evt")
        data = sample_data(index)
        body = encode_event_body(event_id=event_id, event_type=EVENT_TYPE, created_at=format_timestamp(now), data=data)
        events.append(BacklogEvent(event_id, now, data, body))
    return events


_INSERT_EVENTS = """
INSERT INTO events (id, app_id, type, data, source_job_id, created_at, body)
SELECT e.id, %(app_id)s, %(type)s, e.data::jsonb, NULL, e.created_at, e.body
FROM unnest(%(ids)s::text[], %(data)s::text[], %(created)s::timestamptz[], %(bodies)s::text[])
     AS e(id, data, created_at, body)
"""

_INSERT_DELIVERIES = """
INSERT INTO deliveries (id, app_id, event_id, endpoint_id, event_type, status, attempts, next_attempt_at,
                        locked_until, enqueued_at, last_attempt_at, last_response_status, last_error,
                        dead_reason, created_at, updated_at)
SELECT d.id, %(app_id)s, d.event_id, d.endpoint_id, %(type)s, 'pending', 0, d.due,
       NULL, d.due, NULL, NULL, NULL, NULL, d.due, d.due
FROM unnest(%(ids)s::text[], %(event_ids)s::text[], %(endpoint_ids)s::text[], %(due)s::timestamptz[])
     AS d(id, event_id, endpoint_id, due)
"""


def insert_hookrelay_backlog(dsn: str, *, app_id: str, endpoint_ids: list[str],
                             events: list[BacklogEvent]) -> list[list[str]]:
    """Write events + deliveries (one statement each per 1,000 events); returns the delivery
    ids of each event, in order."""
    from hookrelay.domain.ids import new_id

    per_event: list[list[str]] = []
    with psycopg.connect(dsn) as connection:
        for start in range(0, len(events), BATCH):
            chunk = events[start : start + BATCH]
            now = datetime.now(UTC)
            connection.execute(_INSERT_EVENTS, {
                "app_id": app_id, "type": EVENT_TYPE,
                "ids": [e.id for e in chunk],
                "data": [msgspec.json.encode(e.data).decode() for e in chunk],
                "created": [e.created_at for e in chunk],
                "bodies": [e.body.decode() for e in chunk],
            })
            ids, event_ids, endpoints, due = [], [], [], []
            for event in chunk:
                mine = []
                for endpoint_id in endpoint_ids:
                    delivery_id = new_id("dlv")
                    mine.append(delivery_id)
                    ids.append(delivery_id)
                    event_ids.append(event.id)
                    endpoints.append(endpoint_id)
                    due.append(now)
                per_event.append(mine)
            connection.execute(_INSERT_DELIVERIES, {
                "app_id": app_id, "type": EVENT_TYPE, "ids": ids, "event_ids": event_ids,
                "endpoint_ids": endpoints, "due": due,
            })
            connection.commit()
        connection.execute("ANALYZE events")
        connection.execute("ANALYZE deliveries")
        connection.commit()
    return per_event


def hookrelay_enqueuer(redis_db: int):
    """hookrelay's own outbox sender, bound to the benchmark's Redis database."""
    os.environ["HOOKRELAY_REDIS_URL"] = redis_url(redis_db)
    from hookrelay.queue.broker import current_broker, setup_broker
    from hookrelay.settings import load_settings

    try:
        broker = current_broker()
    except RuntimeError:
        broker = setup_broker(load_settings())
    expected = redis_url(redis_db)
    client_kwargs = broker.client.connection_pool.connection_kwargs
    if client_kwargs.get("db") != redis_db:
        raise RuntimeError(f"hookrelay's broker is bound to another Redis db than {expected}")
    # Called off any event loop, so each message is sent at once (as Actor.send does).
    from hookrelay.queue.actors import enqueue_deliveries

    return enqueue_deliveries


def send_outbox_messages(redis_db: int, per_event: list[list[str]]) -> float:
    """One ``deliver`` message per event, as the API sends after each commit (on an event loop,
    so pipelined to Redis); returns seconds."""
    from hookrelay.queue.sender import flush_current_loop

    enqueue = hookrelay_enqueuer(redis_db)

    async def send_all() -> None:
        for ids in per_event:
            enqueue(ids)
        await flush_current_loop()

    started = time.perf_counter()
    asyncio.run(send_all())
    return time.perf_counter() - started


def send_peer_messages(urls: list[str], events: list[BacklogEvent]) -> float:
    """One peer message per event × endpoint; returns seconds."""
    from bench.peer_actor import send_webhook
    from hookrelay.queue.sender import PipelinedSender

    # Setup, not measured: the same messages send_webhook.send writes, pipelined to save time.
    async def send_all() -> None:
        sender = PipelinedSender(send_webhook.broker)
        for event in events:
            body = event.body.decode()
            for url in urls:
                sender.submit(send_webhook.message(url, event.id, body), None)
        await sender.close()

    started = time.perf_counter()
    asyncio.run(send_all())
    return time.perf_counter() - started


def reset_hookrelay_tables(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("TRUNCATE attempts, deliveries, events, jobs, idempotency_keys")
        connection.execute("VACUUM ANALYZE deliveries")
        connection.execute("VACUUM ANALYZE events")
        connection.execute("VACUUM ANALYZE attempts")
