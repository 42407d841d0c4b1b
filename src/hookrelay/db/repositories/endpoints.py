"""SQL for the endpoints table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hookrelay.db.models import Delivery, Endpoint

endpoints = Endpoint.__table__


async def insert_endpoint(connection: AsyncConnection, values: dict) -> dict:
    row = await connection.execute(insert(endpoints).values(**values).returning(*endpoints.c))
    return dict(row.first()._mapping)


async def get_endpoint(connection: AsyncConnection, endpoint_id: str, *, app_id: str | None = None) -> dict | None:
    statement = select(endpoints).where(endpoints.c.id == endpoint_id)
    if app_id is not None:
        statement = statement.where(endpoints.c.app_id == app_id)
    row = (await connection.execute(statement)).first()
    return dict(row._mapping) if row else None


async def list_endpoints(
    connection: AsyncConnection, *, app_id: str, limit: int, before_id: str | None = None
) -> list[dict]:
    statement = select(endpoints).where(endpoints.c.app_id == app_id)
    if before_id:
        statement = statement.where(endpoints.c.id < before_id)
    rows = await connection.execute(statement.order_by(endpoints.c.id.desc()).limit(limit))
    return [dict(row._mapping) for row in rows]


async def enabled_endpoints(connection: AsyncConnection, app_id: str) -> list[dict]:
    """The fan-out candidates of an application (matching by event type happens in Python)."""
    rows = await connection.execute(
        select(endpoints.c.id, endpoints.c.event_types).where(
            endpoints.c.app_id == app_id, endpoints.c.status == "enabled"
        )
    )
    return [dict(row._mapping) for row in rows]


async def update_endpoint(
    connection: AsyncConnection, endpoint_id: str, *, app_id: str, values: dict
) -> dict | None:
    row = await connection.execute(
        update(endpoints)
        .where(endpoints.c.id == endpoint_id, endpoints.c.app_id == app_id)
        .values(**values)
        .returning(*endpoints.c)
    )
    first = row.first()
    return dict(first._mapping) if first else None


async def disable_endpoint(
    connection: AsyncConnection, endpoint_id: str, *, reason: str, now: datetime
) -> dict | None:
    """enabled → disabled; None if it was already disabled (someone else did it first)."""
    row = await connection.execute(
        update(endpoints)
        .where(endpoints.c.id == endpoint_id, endpoints.c.status == "enabled")
        .values(status="disabled", disabled_reason=reason, updated_at=now)
        .returning(*endpoints.c)
    )
    first = row.first()
    return dict(first._mapping) if first else None


async def delete_endpoint(connection: AsyncConnection, endpoint_id: str, *, app_id: str) -> bool:
    result = await connection.execute(
        delete(endpoints).where(endpoints.c.id == endpoint_id, endpoints.c.app_id == app_id).returning(endpoints.c.id)
    )
    return result.first() is not None


async def breaker_counts(connection: AsyncConnection, *, now: datetime) -> tuple[int, int]:
    """(endpoints with an open or half-open breaker, due deliveries those endpoints hold)."""
    deliveries = Delivery.__table__
    not_closed = endpoints.c.breaker_state != "closed"
    open_count = await connection.scalar(select(func.count()).select_from(endpoints).where(not_closed))
    held = await connection.scalar(
        select(func.count())
        .select_from(deliveries.join(endpoints, endpoints.c.id == deliveries.c.endpoint_id))
        .where(not_closed, deliveries.c.status.in_(("pending", "retrying")))
    )
    return int(open_count or 0), int(held or 0)
