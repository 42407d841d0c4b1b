from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hookrelay.db.models import ApiKey, Application

applications = Application.__table__
api_keys = ApiKey.__table__


async def insert_application(connection: AsyncConnection, *, app_id: str, name: str, now: datetime) -> None:
    await connection.execute(insert(applications).values(id=app_id, name=name, created_at=now))


async def list_applications(connection: AsyncConnection) -> list[dict]:
    rows = await connection.execute(select(applications).order_by(applications.c.id))
    return [dict(row._mapping) for row in rows]


async def application_exists(connection: AsyncConnection, app_id: str) -> bool:
    row = await connection.execute(select(applications.c.id).where(applications.c.id == app_id))
    return row.first() is not None


async def insert_api_key(
    connection: AsyncConnection, *, key_id: str, app_id: str, key_hash: str, key_prefix: str, now: datetime
) -> None:
    await connection.execute(
        insert(api_keys).values(
            id=key_id, app_id=app_id, key_hash=key_hash, key_prefix=key_prefix, created_at=now
        )
    )


async def app_id_for_key_hash(connection: AsyncConnection, key_hash: str) -> str | None:
    row = await connection.execute(
        select(api_keys.c.app_id).where(api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None))
    )
    return row.scalar_one_or_none()


async def revoke_api_key(connection: AsyncConnection, key_id: str, now: datetime) -> str | None:
    """Revoke a key; returns its hash (so caches can forget it) or None if there was none."""
    row = await connection.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
        .returning(api_keys.c.key_hash)
    )
    return row.scalar_one_or_none()
