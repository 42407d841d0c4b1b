"""Sending Dramatiq messages to Redis without blocking an event loop.

``Actor.send`` is a blocking Redis round trip. Made from an event loop it stalls every request
that loop serves: on the submission benchmark it was the largest single cost of
``POST /v1/jobs``, and moving it to a thread only traded the wait for GIL contention. So on a
running loop, messages are queued and the loop's ``PipelinedSender`` writes everything queued
since its last write in one pipelined round trip, running Dramatiq's own ``dispatch`` script
(the one ``RedisBroker.enqueue`` runs) with the same arguments. Workers see exactly the
messages ``Actor.send`` would have produced.

The rows a message announces are committed before it is queued here, so a message that never
reaches Redis (the process dies first, Redis is down) only delays the work: the scheduler finds
it by index and sends it again. Off a loop, or with the in-process broker of ``hookrelay dev``,
messages are enqueued directly, as before.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
import uuid
import weakref

import dramatiq
import msgspec
import redis.asyncio
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import dq_name

from hookrelay.logging import get_logger

log = get_logger(__name__)


class PipelinedSender:
    """One per event loop: queued messages go out together, in order, one round trip per batch."""

    def __init__(self, broker: RedisBroker, url: str | None = None) -> None:
        self.broker = broker
        self._client = _async_client(broker, url)
        self._script = broker.scripts["dispatch"]
        self._pending: list[tuple[str, str, bytes]] = []
        self._writer: asyncio.Task | None = None

    def submit(self, message: dramatiq.Message, delay_ms: int | None) -> None:
        """Queue ``message`` as ``RedisBroker.enqueue`` would store it; written on the next loop turn."""
        queue_name, options = _placement(message.queue_name, delay_ms)
        self._queue(message.copy(queue_name=queue_name, options=options), delay_ms)

    def submit_call(self, actor: dramatiq.Actor, args: tuple, delay_ms: int | None) -> None:
        """:meth:`submit` for ``actor(*args)``, the message built once in its final form."""
        queue_name, options = _placement(actor.queue_name, delay_ms)
        message = dramatiq.Message(
            queue_name=queue_name, actor_name=actor.actor_name, args=args, kwargs={}, options=options
        )
        self._queue(message, delay_ms)

    def _queue(self, message: dramatiq.Message, delay_ms: int | None) -> None:
        self.broker.emit_before("enqueue", message, delay_ms)
        self._pending.append((message.queue_name, message.options["redis_message_id"], _encode(message)))
        self.broker.emit_after("enqueue", message, delay_ms)
        if self._writer is None or self._writer.done():
            # A context of its own: the writer sends many requests' messages, and must not log
            # with the request id of the first one.
            self._writer = asyncio.get_running_loop().create_task(self._write_pending(), context=contextvars.Context())

    async def flush(self) -> None:
        """Wait until everything queued so far was written (or given up on)."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    async def _write_pending(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                try:
                    await self._pipeline_for(batch).execute()
                except redis.exceptions.NoScriptError:
                    # A fresh or flushed Redis: load the script once, then write the batch again
                    # (an executed pipeline is empty, so it is built anew).
                    await self._client.script_load(self._script.script)
                    await self._pipeline_for(batch).execute()
            except Exception as exc:  # the scheduler re-sends what this failed to announce
                log.warning("broker_send_failed", messages=len(batch), error=f"{type(exc).__name__}: {exc}")

    def _pipeline_for(self, batch: list[tuple[str, str, bytes]]):
        broker = self.broker
        timestamp = int(time.time() * 1000)
        pipe = self._client.pipeline(transaction=False)
        for queue_name, redis_message_id, data in batch:
            pipe.evalsha(
                self._script.sha, 1, broker.namespace,
                # dispatch.lua's arguments, as RedisBroker._dispatch passes them for "enqueue"
                "enqueue", timestamp, queue_name, broker.broker_id, broker.heartbeat_timeout,
                broker.dead_message_ttl, 0, broker._max_unpack_size(), redis_message_id, data,
            )
        return pipe

    async def close(self) -> None:
        await self.flush()
        await self._client.aclose()


def _placement(queue_name: str, delay_ms: int | None) -> tuple[str, dict]:
    """The queue and options ``RedisBroker.enqueue`` gives a message (delayed: the DQ queue)."""
    options: dict = {"redis_message_id": str(uuid.uuid4())}
    if delay_ms:
        options["eta"] = int(time.time() * 1000) + delay_ms
        return dq_name(queue_name), options
    return queue_name, options


_message_encoder = msgspec.json.Encoder()


def _encode(message: dramatiq.Message) -> bytes:
    """What ``message.encode()`` gives with Dramatiq's default JSON encoder (the same keys, read
    back by ``json.loads``), at a fraction of its cost; any other encoder is used as it is."""
    if type(dramatiq.get_encoder()) is dramatiq.JSONEncoder:
        return _message_encoder.encode(message)
    return message.encode()


def _async_client(broker: RedisBroker, url: str | None) -> redis.asyncio.Redis:
    """An asyncio client for the broker's Redis: from its URL when known (TLS, credentials and
    all), else from the sync client's host, port, database and credentials."""
    if url:
        return redis.asyncio.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    kwargs = broker.client.connection_pool.connection_kwargs
    return redis.asyncio.Redis(
        host=kwargs.get("host", "localhost"), port=kwargs.get("port", 6379), db=kwargs.get("db", 0),
        username=kwargs.get("username"), password=kwargs.get("password"),
        socket_timeout=5, socket_connect_timeout=5,
    )


_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, PipelinedSender] = weakref.WeakKeyDictionary()
_urls: weakref.WeakKeyDictionary[dramatiq.Broker, str] = weakref.WeakKeyDictionary()


def remember_url(broker: dramatiq.Broker, url: str) -> None:
    """Called where the broker is made: the URL its asyncio client should use."""
    _urls[broker] = url


def _sender_for_running_loop(broker: dramatiq.Broker) -> PipelinedSender | None:
    if not isinstance(broker, RedisBroker):
        return None
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    sender = _by_loop.get(loop)
    if sender is None or sender.broker is not broker:
        sender = _by_loop[loop] = PipelinedSender(broker, _urls.get(broker))
    return sender


def send(actor: dramatiq.Actor, *args, delay_ms: int | None = None) -> None:
    """Send ``actor(*args)`` through the actor's own broker: pipelined when called on an event
    loop with the Redis broker, directly otherwise (as ``Actor.send`` does)."""
    sender = _sender_for_running_loop(actor.broker)
    if sender is None:
        actor.broker.enqueue(actor.message(*args), delay=delay_ms or None)
    else:
        sender.submit_call(actor, args, delay_ms)


async def flush_current_loop() -> None:
    """Wait for this loop's queued messages (the API calls it when shutting down)."""
    sender = _by_loop.get(asyncio.get_running_loop())
    if sender is not None:
        await sender.flush()
