from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hookrelay.db.models import Event

events = Event.__table__


async def insert_event(
    connection: AsyncConnection,
    *,
    event_id: str,
    app_id: str,
    event_type: str,
    data: object,
    now: datetime,
    source_job_id: str | None = None,
) -> None:
    await connection.execute(
        insert(events).values(
            id=event_id, app_id=app_id, type=event_type, data=data, created_at=now, source_job_id=source_job_id
        )
    )


async def events_for_job(connection: AsyncConnection, job_id: str) -> list[dict]:
    rows = await connection.execute(
        select(events).where(events.c.source_job_id == job_id).order_by(events.c.id)
    )
    return [dict(row._mapping) for row in rows]
