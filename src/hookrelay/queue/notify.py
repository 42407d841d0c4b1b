"""Job-change wake-ups for long polls and SSE streams, without holding a database connection.

A writer publishes "job X changed" after its transaction commits; a reader subscribes *before*
re-reading the job, then waits. That order matters: a change that lands between the read and
the wait still wakes the reader. Redis pub/sub carries the signal between processes in
production; in ``hookrelay dev`` an in-process hub does, across the API's loop and the worker's.
The signal carries no state: the reader always re-reads the row.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import defaultdict
from collections.abc import AsyncIterator

import redis.asyncio as aioredis

from hookrelay.logging import get_logger

CHANNEL_PREFIX = "hookrelay:job:"
log = get_logger(__name__)


class Waiter:
    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._event = asyncio.Event()

    def wake_threadsafe(self) -> None:
        self.loop.call_soon_threadsafe(self._event.set)

    def wake(self) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> bool:
        """True if woken within ``timeout`` seconds; re-arms for the next change."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            return False
        self._event.clear()
        return True


class _LocalWaiters:
    """Waiters of this process, keyed by job id; safe to wake from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, set[Waiter]] = defaultdict(set)

    def add(self, job_id: str, waiter: Waiter) -> None:
        with self._lock:
            self._waiters[job_id].add(waiter)

    def remove(self, job_id: str, waiter: Waiter) -> None:
        with self._lock:
            waiters = self._waiters.get(job_id)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._waiters[job_id]

    def wake(self, job_id: str) -> None:
        with self._lock:
            waiters = list(self._waiters.get(job_id, ()))
        for waiter in waiters:
            waiter.wake_threadsafe()


class InProcessNotifier:
    """Dev mode: publisher and subscribers share one process."""

    def __init__(self) -> None:
        self._local = _LocalWaiters()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish(self, job_id: str) -> None:
        self._local.wake(job_id)

    @contextlib.asynccontextmanager
    async def subscribe(self, job_id: str) -> AsyncIterator[Waiter]:
        waiter = Waiter()
        self._local.add(job_id, waiter)
        try:
            yield waiter
        finally:
            self._local.remove(job_id, waiter)


class RedisNotifier:
    """Production: one pattern subscription per process fans signals out to local waiters."""

    def __init__(self, redis_url: str) -> None:
        self._client = aioredis.Redis.from_url(redis_url)
        self._local = _LocalWaiters()
        self._listener: asyncio.Task | None = None

    async def start(self) -> None:
        """Begin listening (API processes only; publishers need no listener)."""
        if self._listener is None:
            ready = asyncio.Event()
            self._listener = asyncio.create_task(self._listen(ready))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ready.wait(), 5)

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
            self._listener = None
        await self._client.aclose()

    async def publish(self, job_id: str) -> None:
        try:
            await self._client.publish(CHANNEL_PREFIX + job_id, b"1")
        except aioredis.RedisError as exc:
            # Waiters fall back to their timeout and re-read; losing a wake-up delays, never lies.
            log.warning("job_notify_failed", job_id=job_id, error=str(exc))

    @contextlib.asynccontextmanager
    async def subscribe(self, job_id: str) -> AsyncIterator[Waiter]:
        waiter = Waiter()
        self._local.add(job_id, waiter)
        try:
            yield waiter
        finally:
            self._local.remove(job_id, waiter)

    async def _listen(self, ready: asyncio.Event) -> None:
        while True:
            try:
                pubsub = self._client.pubsub(ignore_subscribe_messages=True)
                await pubsub.psubscribe(CHANNEL_PREFIX + "*")
                ready.set()
                async for message in pubsub.listen():
                    channel = message.get("channel")
                    if isinstance(channel, bytes):
                        self._local.wake(channel.decode()[len(CHANNEL_PREFIX) :])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # reconnect after any transport failure
                log.warning("job_notify_listener_reconnecting", error=str(exc))
                await asyncio.sleep(1)


Notifier = InProcessNotifier | RedisNotifier
