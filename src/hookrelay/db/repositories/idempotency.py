from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hookrelay.db.models import IdempotencyRecord
from hookrelay.db.repositories._dialect import insert_or_ignore

records = IdempotencyRecord.__table__


async def reserve(
    connection: AsyncConnection, *, app_id: str, scope: str, key: str, fingerprint: str, now: datetime
) -> bool:
    """Insert the key's row; False if the key was already taken (after waiting for its owner)."""
    result = await connection.execute(
        insert_or_ignore(connection, records).values(
            app_id=app_id, scope=scope, key=key, fingerprint=fingerprint, created_at=now
        ).returning(records.c.key)
    )
    return result.first() is not None


async def find(connection: AsyncConnection, *, app_id: str, scope: str, key: str) -> dict | None:
    row = await connection.execute(
        select(records).where(records.c.app_id == app_id, records.c.scope == scope, records.c.key == key)
    )
    first = row.first()
    return dict(first._mapping) if first else None


async def store_response(
    connection: AsyncConnection, *, app_id: str, scope: str, key: str, status: int, body: object
) -> None:
    await connection.execute(
        update(records)
        .where(records.c.app_id == app_id, records.c.scope == scope, records.c.key == key)
        .values(response_status=status, response_body=body)
    )


async def forget_expired(connection: AsyncConnection, *, older_than: datetime) -> int:
    result = await connection.execute(delete(records).where(records.c.created_at < older_than))
    return result.rowcount


async def forget(connection: AsyncConnection, *, app_id: str, scope: str, key: str) -> None:
    await connection.execute(
        delete(records).where(records.c.app_id == app_id, records.c.scope == scope, records.c.key == key)
    )
