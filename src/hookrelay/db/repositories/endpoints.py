"""SQL for the endpoints table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hookrelay.db.models import Attempt, Delivery, Endpoint

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


# The same query for ``hookrelay.db.direct`` callers (psycopg placeholders).
ENABLED_ENDPOINTS_OF_APPS_SQL = (
    "SELECT app_id, id, event_types FROM endpoints WHERE app_id = ANY(%(app_ids)s) AND status = 'enabled'"
)


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
    """The endpoint with its deliveries (the foreign key's cascade) and their attempts, which
    have no foreign key to cascade by (migration 0005). The deliveries are locked first, so a
    manual attempt recording its outcome right now commits before its attempt is looked for."""
    deliveries, attempts = Delivery.__table__, Attempt.__table__
    its_deliveries = (
        select(deliveries.c.id)
        .where(deliveries.c.endpoint_id == endpoint_id, deliveries.c.app_id == app_id)
        .with_for_update()
    )
    await connection.execute(delete(attempts).where(attempts.c.delivery_id.in_(its_deliveries.scalar_subquery())))
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


async def lock_endpoints(connection: AsyncConnection, endpoint_ids: list[str]) -> dict[str, dict]:
    """The endpoints' current rows, locked until the transaction ends (breaker read-modify-write).

    FOR NO KEY UPDATE, not FOR UPDATE: it still serialises the workers updating one endpoint,
    but not the inserts of new deliveries for it, whose foreign-key check takes FOR KEY SHARE.
    With FOR UPDATE, every ``POST /v1/events`` batch naming an endpoint whose breaker a worker
    was recording (perhaps releasing thousands of held deliveries) waited for that transaction."""
    if not endpoint_ids:
        return {}
    statement = select(endpoints).where(endpoints.c.id.in_(sorted(endpoint_ids))).order_by(endpoints.c.id)
    if connection.dialect.name == "postgresql":
        statement = statement.with_for_update(key_share=True)
    rows = await connection.execute(statement)
    return {row.id: dict(row._mapping) for row in rows}


async def save_breaker(connection: AsyncConnection, endpoint_id: str, columns: dict, **extra) -> None:
    await connection.execute(update(endpoints).where(endpoints.c.id == endpoint_id).values(**columns, **extra))


async def release_held(connection: AsyncConnection, endpoint_id: str, *, now: datetime) -> int:
    """After a breaker closes: the endpoint's undelivered deliveries that wait for a later time
    become due at once, oldest first (their creation time orders the scheduler's scan)."""
    deliveries = Delivery.__table__
    result = await connection.execute(
        update(deliveries)
        .where(
            deliveries.c.endpoint_id == endpoint_id,
            deliveries.c.status.in_(("pending", "retrying")),
            deliveries.c.next_attempt_at > now,
        )
        .values(next_attempt_at=deliveries.c.created_at, enqueued_at=None, updated_at=now)
        .returning(deliveries.c.id)
    )
    return len(result.all())


async def failing_too_long(connection: AsyncConnection, *, opened_before: datetime, limit: int = 100) -> list[str]:
    """Enabled endpoints whose breaker has been open since before ``opened_before``."""
    rows = await connection.execute(
        select(endpoints.c.id)
        .where(
            endpoints.c.status == "enabled",
            endpoints.c.breaker_state != "closed",
            endpoints.c.breaker_opened_at < opened_before,
        )
        .limit(limit)
    )
    return list(rows.scalars())
