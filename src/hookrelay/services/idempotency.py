"""Idempotency-Key handling shared by ``POST /v1/jobs`` and ``POST /v1/events``.

The key's row is inserted first, in the same transaction as the work it guards. On PostgreSQL a
second request with the same key waits on that insert until the first commits, then finds the
stored response: concurrent duplicates create one resource.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from hookrelay.db.repositories import idempotency as idempotency_repo
from hookrelay.errors import Conflict, Unprocessable

WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class IdempotencyKey:
    key: str
    fingerprint: str


@dataclass(frozen=True)
class Replay:
    status: int
    body: dict


async def reserve_or_replay(
    connection: AsyncConnection, *, app_id: str, scope: str, idempotency: IdempotencyKey, now: datetime
) -> Replay | None:
    """Take the key for this request (None), or return the response it already produced."""
    fields = {"app_id": app_id, "scope": scope, "key": idempotency.key}
    for _ in range(2):
        if await idempotency_repo.reserve(connection, fingerprint=idempotency.fingerprint, now=now, **fields):
            return None
        earlier = await idempotency_repo.find(connection, **fields)
        if earlier is None:
            continue  # it expired and was purged between the two statements
        if earlier["created_at"] < now - WINDOW:
            await idempotency_repo.forget(connection, **fields)
            continue
        if earlier["fingerprint"] != idempotency.fingerprint:
            raise Unprocessable(
                "this Idempotency-Key was already used with a different request body",
                code="idempotency_key_reused",
            )
        if earlier["response_status"] is None:
            raise Conflict("a request with this Idempotency-Key is still in progress", code="idempotency_in_progress")
        return Replay(earlier["response_status"], earlier["response_body"])
    raise Conflict("could not reserve the Idempotency-Key; retry the request", code="idempotency_in_progress")


async def remember_response(
    connection: AsyncConnection, *, app_id: str, scope: str, idempotency: IdempotencyKey, status: int, body: dict
) -> None:
    await idempotency_repo.store_response(
        connection, app_id=app_id, scope=scope, key=idempotency.key, status=status, body=body
    )
