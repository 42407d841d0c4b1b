"""Applications and their API keys (admin API, ``hookrelay apps create``, ``hookrelay dev``)."""

from __future__ import annotations

from hookrelay.db.engine import Database
from hookrelay.domain.api_keys import generate_api_key, hash_api_key
from hookrelay.db.repositories import applications as applications_repo
from hookrelay.db.types import utcnow
from hookrelay.domain.ids import new_id
from hookrelay.domain.timestamps import format_timestamp
from hookrelay.errors import NotFound, Unprocessable


def _validate_name(name: str) -> str:
    name = (name or "").strip()
    if not 1 <= len(name) <= 200:
        raise Unprocessable(
            "name must be 1 to 200 characters",
            errors=[{"field": "name", "message": "must be 1 to 200 characters"}],
        )
    return name


async def create_application(database: Database, name: str) -> dict:
    """Returns ``{"id", "name", "api_key", "key_id", "created_at"}``; the key is shown only here."""
    name = _validate_name(name)
    now = utcnow()
    app_id = new_id("app")
    async with database.transaction() as connection:
        await applications_repo.insert_application(connection, app_id=app_id, name=name, now=now)
        key_id, api_key = await _insert_key(connection, app_id, now)
    return {"id": app_id, "name": name, "api_key": api_key, "key_id": key_id, "created_at": format_timestamp(now)}


async def _insert_key(connection, app_id: str, now) -> tuple[str, str]:
    api_key = generate_api_key()
    key_id = new_id("key")
    await applications_repo.insert_api_key(
        connection, key_id=key_id, app_id=app_id, key_hash=hash_api_key(api_key), key_prefix=api_key[:8], now=now
    )
    return key_id, api_key


async def add_api_key(database: Database, app_id: str) -> dict:
    now = utcnow()
    async with database.transaction() as connection:
        if not await applications_repo.application_exists(connection, app_id):
            raise NotFound(f"no application {app_id}", code="application_not_found")
        key_id, api_key = await _insert_key(connection, app_id, now)
    return {"id": key_id, "app_id": app_id, "api_key": api_key, "created_at": format_timestamp(now)}


async def revoke_api_key(database: Database, key_id: str) -> str:
    """Returns the revoked key's hash so the caller can drop it from its cache."""
    async with database.transaction() as connection:
        key_hash = await applications_repo.revoke_api_key(connection, key_id, utcnow())
    if key_hash is None:
        raise NotFound(f"no active key {key_id}", code="key_not_found")
    return key_hash


async def list_applications(database: Database) -> list[dict]:
    async with database.transaction() as connection:
        rows = await applications_repo.list_applications(connection)
    return [{"id": r["id"], "name": r["name"], "created_at": format_timestamp(r["created_at"])} for r in rows]
