"""The peer: what a team writes in an afternoon instead of hookrelay.

One Dramatiq actor, one ``httpx`` POST per message (one event × one endpoint), a Standard
Webhooks signature, a non-2xx answer raises so Dramatiq's ``Retries`` middleware (part of its
default middleware) retries it with backoff. One ``httpx.Client`` shared by all messages of a
worker thread. Its own Redis database and queue. Run with Dramatiq's defaults for this
machine (processes = CPU count, 8 threads each)::

    BENCH_PEER_REDIS_URL=redis://127.0.0.1:6379/8 python -m dramatiq bench.peer_actor
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
import time

import dramatiq
import httpx
from dramatiq.brokers.redis import RedisBroker

QUEUE = "peer_webhooks"
SECRET = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")  # the endpoint's signing key

broker = RedisBroker(url=os.environ.get("BENCH_PEER_REDIS_URL", "redis://127.0.0.1:6379/8"))
dramatiq.set_broker(broker)

_local = threading.local()


def _client() -> httpx.Client:
    client = getattr(_local, "client", None)
    if client is None:
        client = _local.client = httpx.Client(timeout=15.0, follow_redirects=False)
    return client


class DeliveryFailed(Exception):
    pass


@dramatiq.actor(queue_name=QUEUE, max_retries=3, min_backoff=1_000, max_backoff=60_000)
def send_webhook(url: str, event_id: str, body: str) -> None:
    timestamp = str(int(time.time()))
    payload = body.encode()
    digest = hmac.new(SECRET, f"{event_id}.{timestamp}.".encode() + payload, hashlib.sha256).digest()
    response = _client().post(
        url,
        content=payload,
        headers={
            "content-type": "application/json",
            "webhook-id": event_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": "v1," + base64.b64encode(digest).decode(),
        },
    )
    if not 200 <= response.status_code < 300:
        raise DeliveryFailed(f"{url} answered {response.status_code}")
