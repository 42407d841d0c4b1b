"""Recording events. Called inside the transaction that caused the event, so that the event
row (the outbox) commits if and only if its cause does."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from hookrelay.db.repositories import events as events_repo
from hookrelay.domain.ids import new_id


async def record_event(
    connection: AsyncConnection,
    *,
    app_id: str,
    event_type: str,
    data: object,
    now: datetime,
    source_job_id: str | None = None,
) -> str:
    event_id = new_id("evt")
    await events_repo.insert_event(
        connection,
        event_id=event_id,
        app_id=app_id,
        event_type=event_type,
        data=data,
        now=now,
        source_job_id=source_job_id,
    )
    return event_id
