from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hookrelay.db.models import Event

events = Event.__table__


async def insert_event(connection: AsyncConnection, row: dict) -> None:
    """``row`` as ``services.events.plan_event`` builds it."""
    await connection.execute(insert(events), row)


async def get_event(connection: AsyncConnection, event_id: str, *, app_id: str) -> dict | None:
    row = (await connection.execute(select(events).where(events.c.id == event_id, events.c.app_id == app_id))).first()
    return dict(row._mapping) if row else None


async def list_events(
    connection: AsyncConnection, *, app_id: str, limit: int, before_id: str | None = None, event_type: str | None = None
) -> list[dict]:
    statement = select(events).where(events.c.app_id == app_id)
    if before_id:
        statement = statement.where(events.c.id < before_id)
    if event_type:
        statement = statement.where(events.c.type == event_type)
    rows = await connection.execute(statement.order_by(events.c.id.desc()).limit(limit))
    return [dict(row._mapping) for row in rows]


async def events_for_job(connection: AsyncConnection, job_id: str) -> list[dict]:
    rows = await connection.execute(
        select(events).where(events.c.source_job_id == job_id).order_by(events.c.id)
    )
    return [dict(row._mapping) for row in rows]
