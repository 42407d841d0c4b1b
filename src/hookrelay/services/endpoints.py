"""Endpoints: registration (with the SSRF check), changes, enable/disable, secret rotation, test."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from hookrelay.db.repositories import endpoints as endpoints_repo
from hookrelay.db.types import utcnow
from hookrelay.delivery.request import custom_header_problem
from hookrelay.delivery.ssrf import check_url_target
from hookrelay.domain.addresses import validate_target_url
from hookrelay.domain.breaker import reset, to_columns
from hookrelay.domain.ids import new_id
from hookrelay.domain.matching import is_valid_pattern
from hookrelay.domain.signing import generate_secret, is_valid_secret
from hookrelay.domain.timestamps import format_timestamp
from hookrelay.errors import NotFound, Unprocessable
from hookrelay.services.context import Services
from hookrelay.services.cursors import CursorCodec, page
from hookrelay.services.events import Outbox, record_event

MAX_EVENT_TYPES = 100
MAX_HEADERS = 30
MAX_RATE_LIMIT = 100_000


def endpoint_resource(row: dict, *, with_secret: bool = False) -> dict:
    resource = {
        "id": row["id"],
        "url": row["url"],
        "description": row["description"],
        "event_types": row["event_types"],
        "rate_limit": row["rate_limit"],
        "headers": row["headers"] or {},
        "metadata": row["metadata"],
        "status": row["status"],
        "disabled_reason": row["disabled_reason"],
        "created_at": format_timestamp(row["created_at"]),
        "updated_at": format_timestamp(row["updated_at"]),
    }
    if with_secret:
        resource["secret"] = row["secret"]
    return resource


def _invalid(field: str, message: str) -> Unprocessable:
    return Unprocessable(f"{field}: {message}", errors=[{"field": field, "message": message}])


async def _checked_url(services: Services, url: str) -> str:
    problem = validate_target_url(url)
    if problem is None:
        problem = await check_url_target(url, services.settings.allow_private_targets)
    if problem is not None:
        raise Unprocessable(
            f"url is not an allowed webhook target: {problem}",
            code="url_not_allowed",
            errors=[{"field": "url", "message": problem}],
        )
    return url


def _checked_event_types(event_types: list[str]) -> list[str]:
    if not event_types or len(event_types) > MAX_EVENT_TYPES:
        raise _invalid("event_types", f"give 1 to {MAX_EVENT_TYPES} event types or patterns")
    for pattern in event_types:
        if not is_valid_pattern(pattern):
            raise _invalid("event_types", f"{pattern!r} is not an event type or a trailing-* pattern")
    return list(dict.fromkeys(event_types))


def _checked_headers(headers: dict[str, str]) -> dict[str, str]:
    if len(headers) > MAX_HEADERS:
        raise _invalid("headers", f"at most {MAX_HEADERS} custom headers")
    for name, value in headers.items():
        problem = custom_header_problem(name, value)
        if problem:
            raise _invalid("headers", problem)
    return headers


def _checked_rate_limit(rate_limit: int | None) -> int | None:
    if rate_limit is not None and not 1 <= rate_limit <= MAX_RATE_LIMIT:
        raise _invalid("rate_limit", f"must be between 1 and {MAX_RATE_LIMIT} per second")
    return rate_limit


async def create_endpoint(services: Services, *, app_id: str, fields: dict) -> dict:
    secret = fields.get("secret") or generate_secret()
    if not is_valid_secret(secret):
        raise _invalid("secret", "must be whsec_ followed by base64 of 24 to 64 bytes")
    now = utcnow()
    values = {
        "id": new_id("ep"),
        "app_id": app_id,
        "url": await _checked_url(services, fields["url"]),
        "description": fields.get("description"),
        "event_types": _checked_event_types(["*"] if fields.get("event_types") is None else fields["event_types"]),
        "rate_limit": _checked_rate_limit(fields.get("rate_limit")),
        "headers": _checked_headers(fields.get("headers") or {}),
        "metadata": fields.get("metadata"),
        "status": "enabled",
        "disabled_reason": None,
        "secret": secret,
        "created_at": now,
        "updated_at": now,
    }
    async with services.database.transaction() as connection:
        row = await endpoints_repo.insert_endpoint(connection, values)
    return endpoint_resource(row, with_secret=True)


async def _get(connection: AsyncConnection, app_id: str, endpoint_id: str) -> dict:
    row = await endpoints_repo.get_endpoint(connection, endpoint_id, app_id=app_id)
    if row is None:
        raise NotFound(f"no endpoint {endpoint_id}", code="endpoint_not_found")
    return row


async def get_endpoint(services: Services, *, app_id: str, endpoint_id: str) -> dict:
    async with services.database.transaction() as connection:
        return endpoint_resource(await _get(connection, app_id, endpoint_id))


async def get_secret(services: Services, *, app_id: str, endpoint_id: str) -> dict:
    async with services.database.transaction() as connection:
        return {"secret": (await _get(connection, app_id, endpoint_id))["secret"]}


async def list_endpoints(services: Services, cursors: CursorCodec, *, app_id: str, limit: int, cursor: str | None) -> dict:
    before_id = cursors.decode(cursor, listing="endpoints", app_id=app_id) if cursor else None
    async with services.database.transaction() as connection:
        rows = await endpoints_repo.list_endpoints(connection, app_id=app_id, limit=limit + 1, before_id=before_id)
    rows, more = page(rows, limit)
    next_cursor = cursors.encode(listing="endpoints", app_id=app_id, last_id=rows[-1]["id"]) if more else None
    return {"data": [endpoint_resource(row) for row in rows], "next_cursor": next_cursor}


async def update_endpoint(services: Services, *, app_id: str, endpoint_id: str, changes: dict) -> dict:
    values: dict = {}
    if "url" in changes:
        values["url"] = await _checked_url(services, changes["url"])
    if "event_types" in changes:
        values["event_types"] = _checked_event_types(changes["event_types"] or [])
    if "headers" in changes:
        values["headers"] = _checked_headers(changes["headers"] or {})
    if "rate_limit" in changes:
        values["rate_limit"] = _checked_rate_limit(changes["rate_limit"])
    for name in ("description", "metadata"):
        if name in changes:
            values[name] = changes[name]
    values["updated_at"] = utcnow()
    async with services.database.transaction() as connection:
        row = await endpoints_repo.update_endpoint(connection, endpoint_id, app_id=app_id, values=values)
    if row is None:
        raise NotFound(f"no endpoint {endpoint_id}", code="endpoint_not_found")
    return endpoint_resource(row)


async def set_enabled(services: Services, *, app_id: str, endpoint_id: str, enabled: bool) -> dict:
    """Enabling also resets the circuit breaker: the owner says the receiver is back."""
    if enabled:
        values = {"status": "enabled", "disabled_reason": None, **to_columns(reset())}
    else:
        values = {"status": "disabled", "disabled_reason": "manual"}
    return await _update_raw(services, app_id, endpoint_id, values)


async def get_health(services: Services, *, app_id: str, endpoint_id: str) -> dict:
    # Imported here because services.breakers imports this module (endpoint_resource).
    from hookrelay.services.breakers import health

    async with services.database.transaction() as connection:
        return await health(connection, await _get(connection, app_id, endpoint_id), now=utcnow())


async def rotate_secret(services: Services, *, app_id: str, endpoint_id: str) -> dict:
    """A new secret signs from now on; the old one keeps signing for the rotation grace."""
    now = utcnow()
    new_secret = generate_secret()
    async with services.database.transaction() as connection:
        current = await _get(connection, app_id, endpoint_id)
        await endpoints_repo.update_endpoint(
            connection, endpoint_id, app_id=app_id,
            values={
                "secret": new_secret,
                "previous_secret": current["secret"],
                "previous_secret_expires_at": now + services.settings.secret_rotation_grace,
                "updated_at": now,
            },
        )
    return {"secret": new_secret}


async def delete_endpoint(services: Services, *, app_id: str, endpoint_id: str) -> None:
    async with services.database.transaction() as connection:
        if not await endpoints_repo.delete_endpoint(connection, endpoint_id, app_id=app_id):
            raise NotFound(f"no endpoint {endpoint_id}", code="endpoint_not_found")


async def send_test_event(services: Services, *, app_id: str, endpoint_id: str) -> str:
    """A ``webhook.test`` event delivered to this endpoint alone; returns the event id."""
    now, outbox = utcnow(), Outbox()
    async with services.database.transaction() as connection:
        await _get(connection, app_id, endpoint_id)
        event = await record_event(
            connection, app_id=app_id, event_type="webhook.test",
            data={"endpoint_id": endpoint_id, "message": "a test event from hookrelay"},
            now=now, retry_schedule=services.settings.retry_schedule, outbox=outbox, only_endpoint_id=endpoint_id,
        )
    outbox.flush(services)
    return event.id


async def _update_raw(services: Services, app_id: str, endpoint_id: str, values: dict) -> dict:
    async with services.database.transaction() as connection:
        row = await endpoints_repo.update_endpoint(
            connection, endpoint_id, app_id=app_id, values={**values, "updated_at": utcnow()}
        )
    if row is None:
        raise NotFound(f"no endpoint {endpoint_id}", code="endpoint_not_found")
    return endpoint_resource(row)
