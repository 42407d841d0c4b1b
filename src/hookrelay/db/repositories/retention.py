"""Purging expired events with their deliveries and attempts, a small batch at a time.

Each batch is its own short transaction, so purging millions of rows never holds long locks.
An event that still has undelivered deliveries is kept whatever its age: retention must not
lose work that is still due.

Attempts have no foreign key to their delivery (migration 0005): a worker that recorded an
attempt while the delivery's endpoint was being deleted leaves it behind, and the sweep of
:func:`purge_orphaned_attempts_batch` takes it once it is as old as the events purged.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, exists, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hookrelay.db.models import Attempt, Delivery, Event
from hookrelay.db.models.deliveries import UNDELIVERED

events = Event.__table__
deliveries = Delivery.__table__
attempts = Attempt.__table__


async def purge_expired_batch(connection: AsyncConnection, *, older_than: datetime, batch: int) -> int:
    """Delete up to ``batch`` events created before ``older_than`` (and everything under them);
    returns how many events went."""
    undelivered = exists().where(deliveries.c.event_id == events.c.id, deliveries.c.status.in_(UNDELIVERED))
    event_ids = list(
        (
            await connection.execute(
                select(events.c.id).where(events.c.created_at < older_than, ~undelivered).limit(batch)
            )
        ).scalars()
    )
    if not event_ids:
        return 0
    delivery_ids = select(deliveries.c.id).where(deliveries.c.event_id.in_(event_ids)).scalar_subquery()
    await connection.execute(delete(attempts).where(attempts.c.delivery_id.in_(delivery_ids)))
    await connection.execute(delete(deliveries).where(deliveries.c.event_id.in_(event_ids)))
    await connection.execute(delete(events).where(events.c.id.in_(event_ids)))
    return len(event_ids)


async def purge_orphaned_attempts_batch(connection: AsyncConnection, *, older_than: datetime, batch: int) -> int:
    """Delete up to ``batch`` attempts started before ``older_than`` whose delivery is gone;
    returns how many went. Only old attempts are looked at: after the events purge, few are
    left, so the scan stays short however large the table grows."""
    orphaned = (
        select(attempts.c.id)
        .where(attempts.c.started_at < older_than, ~exists().where(deliveries.c.id == attempts.c.delivery_id))
        .limit(batch)
    )
    result = await connection.execute(delete(attempts).where(attempts.c.id.in_(orphaned.scalar_subquery())))
    return result.rowcount
