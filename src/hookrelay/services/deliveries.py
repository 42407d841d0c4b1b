"""Reading deliveries and their attempts (the full log API and DLQ operations come later)."""

from __future__ import annotations

from hookrelay.db.repositories import deliveries as deliveries_repo
from hookrelay.domain.timestamps import format_timestamp
from hookrelay.errors import NotFound
from hookrelay.services.context import Services
from hookrelay.services.cursors import CursorCodec, page


def delivery_resource(row: dict) -> dict:
    return {
        "id": row["id"],
        "event_id": row["event_id"],
        "endpoint_id": row["endpoint_id"],
        "event_type": row["event_type"],
        "status": row["status"],
        "attempts": row["attempts"],
        "next_attempt_at": format_timestamp(row["next_attempt_at"]),
        "last_attempt_at": format_timestamp(row["last_attempt_at"]),
        "last_response_status": row["last_response_status"],
        "last_error": row["last_error"],
        "dead_reason": row["dead_reason"],
        "created_at": format_timestamp(row["created_at"]),
        "updated_at": format_timestamp(row["updated_at"]),
    }


def attempt_resource(row: dict) -> dict:
    response = None
    if row["response_status"] is not None:
        response = {"status": row["response_status"], "headers": row["response_headers"] or {}, "body": row["response_body"]}
    return {
        "id": row["id"],
        "delivery_id": row["delivery_id"],
        "number": row["number"],
        "trigger": row["trigger"],
        "started_at": format_timestamp(row["started_at"]),
        "duration_ms": row["duration_ms"],
        "request": {"url": row["request_url"], "headers": row["request_headers"]},
        "response": response,
        "error": row["error"],
        "outcome": row["outcome"],
    }


async def get_delivery(services: Services, *, app_id: str, delivery_id: str) -> dict:
    async with services.database.transaction() as connection:
        row = await deliveries_repo.get_delivery(connection, delivery_id, app_id=app_id)
    if row is None:
        raise NotFound(f"no delivery {delivery_id}", code="delivery_not_found")
    return delivery_resource(row)


async def list_attempts(
    services: Services, cursors: CursorCodec, *, app_id: str, delivery_id: str, limit: int, cursor: str | None
) -> dict:
    listing = f"attempts:{delivery_id}"
    after = int(cursors.decode(cursor, listing=listing, app_id=app_id)) if cursor else None
    async with services.database.transaction() as connection:
        if await deliveries_repo.get_delivery(connection, delivery_id, app_id=app_id) is None:
            raise NotFound(f"no delivery {delivery_id}", code="delivery_not_found")
        rows = await deliveries_repo.list_attempts(connection, delivery_id, limit=limit + 1, after_number=after)
    rows, more = page(rows, limit)
    next_cursor = cursors.encode(listing=listing, app_id=app_id, last_id=str(rows[-1]["number"])) if more else None
    return {"data": [attempt_resource(row) for row in rows], "next_cursor": next_cursor}


async def list_deliveries(
    services: Services, cursors: CursorCodec, *, app_id: str, limit: int, cursor: str | None, listing: str = "deliveries",
    **filters,
) -> dict:
    """The delivery log (and, with status=dead, the DLQ), newest first, with signed cursors."""
    before_id = cursors.decode(cursor, listing=listing, app_id=app_id) if cursor else None
    async with services.database.transaction() as connection:
        rows = await deliveries_repo.list_deliveries(
            connection, app_id=app_id, limit=limit + 1, before_id=before_id, **filters
        )
    rows, more = page(rows, limit)
    next_cursor = cursors.encode(listing=listing, app_id=app_id, last_id=rows[-1]["id"]) if more else None
    return {"data": [delivery_resource(row) for row in rows], "next_cursor": next_cursor}


async def list_all_dead(services: Services, cursors: CursorCodec, *, limit: int, before_id: str | None, **filters) -> dict:
    """The admin DLQ across applications; each item names its application."""
    app_id = filters.pop("app_id", None)
    async with services.database.transaction() as connection:
        rows = await deliveries_repo.list_deliveries(
            connection, app_id=app_id, limit=limit + 1, before_id=before_id, status="dead", **filters
        )
    rows, more = page(rows, limit)
    next_cursor = cursors.encode(listing="admin-dlq", app_id="*", last_id=rows[-1]["id"]) if more else None
    return {"data": [{**delivery_resource(row), "app_id": row["app_id"]} for row in rows], "next_cursor": next_cursor}
