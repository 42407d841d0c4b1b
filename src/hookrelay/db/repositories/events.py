from __future__ import annotations

from functools import lru_cache

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hookrelay.db import direct
from hookrelay.db.models import Delivery, Event

events = Event.__table__
_deliveries = Delivery.__table__


async def insert_event(connection: AsyncConnection, row: dict) -> None:
    """``row`` as ``services.events.plan_event`` builds it."""
    await connection.execute(insert(events), row)


@lru_cache(maxsize=8)
def _events_with_deliveries_statement(event_columns: tuple[str, ...], delivery_columns: tuple[str, ...]) -> str:
    return (
        f"WITH new_events AS ({direct.insert_rows_statement(events, event_columns, 'events')}) "
        + direct.insert_rows_statement(_deliveries, delivery_columns, "deliveries")
    )


async def insert_events_with_deliveries_direct(driver_connection, rows: list[dict], delivery_rows: list[dict]) -> None:
    """Events and their deliveries (as ``plan_event`` builds them) in one statement, by psycopg
    itself (``hookrelay.db.direct``): atomic by itself, so autocommit needs no transaction."""
    event_columns = tuple(rows[0])
    if not delivery_rows:
        statement = direct.insert_rows_statement(events, event_columns, "events")
        await driver_connection.execute(statement, {"events": direct.rows_param(rows)})
        return
    statement = _events_with_deliveries_statement(event_columns, tuple(delivery_rows[0]))
    await driver_connection.execute(
        statement, {"events": direct.rows_param(rows), "deliveries": direct.rows_param(delivery_rows)}
    )


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
