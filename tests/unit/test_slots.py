"""ConnectionSlots: caps per host and overall, a free host never waits behind a busy one, and a
waiter cancelled in line gives back what it took."""

from __future__ import annotations

import asyncio

import pytest

from hookrelay.delivery.slots import ConnectionSlots


async def _hold(slots: ConnectionSlots, key: str, inside: list[str], release: asyncio.Event) -> None:
    async with slots.hold(key):
        inside.append(key)
        await release.wait()


async def test_per_host_and_total_caps() -> None:
    slots = ConnectionSlots(total=3, per_host=2)
    inside: list[str] = []
    release = asyncio.Event()
    tasks = [asyncio.create_task(_hold(slots, key, inside, release)) for key in ["a", "a", "a", "b", "c"]]
    await asyncio.sleep(0.01)
    assert sorted(inside) == ["a", "a", "b"]  # the third "a" waits for its host, "c" for the total
    assert slots.hosts_in_use == 3
    release.set()
    await asyncio.gather(*tasks)
    assert sorted(inside) == ["a", "a", "a", "b", "c"]
    assert slots.hosts_in_use == 0


async def test_a_free_host_does_not_wait_behind_a_busy_one() -> None:
    slots = ConnectionSlots(total=4, per_host=1)
    inside: list[str] = []
    release = asyncio.Event()
    busy = [asyncio.create_task(_hold(slots, "busy", inside, release)) for _ in range(5)]
    free = asyncio.create_task(_hold(slots, "free", inside, release))
    await asyncio.sleep(0.01)
    assert inside == ["busy", "free"]  # the waiting "busy" ones hold no global slot
    release.set()
    await asyncio.gather(*busy, free)


async def test_a_cancelled_waiter_gives_back_what_it_took() -> None:
    slots = ConnectionSlots(total=1, per_host=1)
    inside: list[str] = []
    release = asyncio.Event()
    holder = asyncio.create_task(_hold(slots, "a", inside, release))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(_hold(slots, "b", inside, release))  # has its host slot, waits for the total
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    release.set()
    await holder
    assert slots.hosts_in_use == 0
    release.clear()
    again = asyncio.create_task(_hold(slots, "b", inside, release))
    await asyncio.sleep(0.01)
    assert inside == ["a", "b"]  # the total slot and b's host slot were given back
    release.set()
    await again


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ConnectionSlots(total=0, per_host=1)
