"""Caps on requests in flight, overall and per host, taken *before* an attempt's clock starts.

Why not leave this to the connection pool: a request waiting in the pool for a free
connection is already inside its timeout. With 200 deliveries due for one busy endpoint and
64 connections per host, the last ones would time out in *our* queue and be recorded as the
receiver's failures, feeding its circuit breaker with our own congestion. Waiting here
instead, with the pool sized to the same numbers, means the pool never makes a request wait
and ``HOOKRELAY_DELIVERY_TIMEOUT`` (and ``duration_ms``) measure only the receiver.

The per-host waiting is also fair: a request for a free host never waits behind a crowd
queued for a busy one, because the global slot is taken only after the host slot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable

__all__ = ["ConnectionSlots"]


class _HostSlot:
    __slots__ = ("semaphore", "users")

    def __init__(self, limit: int) -> None:
        self.semaphore = asyncio.Semaphore(limit)
        self.users = 0  # holders plus waiters; the entry is dropped when it reaches zero


class ConnectionSlots:
    """At most ``total`` requests in flight, and at most ``per_host`` per host key."""

    def __init__(self, *, total: int, per_host: int) -> None:
        if total < 1 or per_host < 1:
            raise ValueError("connection limits must be at least 1")
        self.total = total
        self.per_host = min(per_host, total)
        self._all = asyncio.Semaphore(total)
        self._hosts: dict[Hashable, _HostSlot] = {}

    def hold(self, host_key: Hashable) -> _Hold:
        """``async with slots.hold(key)``: wait for a host slot, then a global one; release both on exit."""
        return _Hold(self, host_key)

    @property
    def hosts_in_use(self) -> int:
        """How many distinct hosts have requests in flight or waiting."""
        return len(self._hosts)


class _Hold:
    """The context of :meth:`ConnectionSlots.hold`: a class, not a generator, because it
    wraps every attempt and a generator-based context manager costs several times more."""

    __slots__ = ("_key", "_slot", "_slots")

    def __init__(self, slots: ConnectionSlots, host_key: Hashable) -> None:
        self._slots, self._key = slots, host_key
        self._slot: _HostSlot | None = None

    async def __aenter__(self) -> None:
        slots = self._slots
        slot = slots._hosts.get(self._key)
        if slot is None:
            slot = slots._hosts[self._key] = _HostSlot(slots.per_host)
        slot.users += 1
        self._slot = slot
        try:
            await slot.semaphore.acquire()
            try:
                await slots._all.acquire()
            except BaseException:
                slot.semaphore.release()
                raise
        except BaseException:
            self._leave()
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        self._slots._all.release()
        self._slot.semaphore.release()  # type: ignore[union-attr]
        self._leave()

    def _leave(self) -> None:
        slot = self._slot
        slot.users -= 1  # type: ignore[union-attr]
        if slot.users == 0:  # type: ignore[union-attr]
            # Keeps the dict as small as the set of hosts currently in use.
            del self._slots._hosts[self._key]
