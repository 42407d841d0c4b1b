"""Recording events and fanning them out.

``record_event`` runs inside the transaction that caused the event: the event row (the
outbox), its exact webhook body and one delivery row per matching enabled endpoint commit
together or not at all. Messages for those deliveries are sent only after the commit, by the
caller's ``Outbox``; if that send is lost the scheduler finds the deliveries by index.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from hookrelay.db.group_commit import group_commit_for
from hookrelay.db.repositories import deliveries as deliveries_repo
from hookrelay.db.repositories import endpoints as endpoints_repo
from hookrelay.db.repositories import events as events_repo
from hookrelay.db.types import utcnow
from hookrelay.delivery.request import encode_event_body
from hookrelay.domain.ids import new_id
from hookrelay.domain.matching import matches
from hookrelay.domain.retry import first_attempt_at
from hookrelay.domain.timestamps import format_timestamp
from hookrelay.errors import NotFound
from hookrelay.services.cursors import CursorCodec, page
from hookrelay.services.deliveries import delivery_resource
from hookrelay.services.idempotency import IdempotencyKey, remember_response, reserve_or_replay

IMMEDIATE = (timedelta(0),)


@dataclass
class Outbox:
    """Delivery ids to announce once the transaction that created them has committed."""

    delivery_ids: list[str] = field(default_factory=list)

    def flush(self, services) -> None:
        if self.delivery_ids:
            services.enqueue_deliveries(list(self.delivery_ids))
            self.delivery_ids.clear()


@dataclass(frozen=True)
class RecordedEvent:
    id: str
    created_at: datetime
    deliveries: list[dict]


@dataclass(frozen=True)
class EventPlan:
    """The rows one event writes: the event (with its exact webhook body) and its deliveries."""

    event_row: dict
    delivery_rows: list[dict]
    announce: bool  # whether messages for the deliveries follow the commit

    @property
    def id(self) -> str:
        return self.event_row["id"]


def plan_event(
    *,
    app_id: str,
    event_type: str,
    data: object,
    now: datetime,
    candidates: list[dict],
    source_job_id: str | None = None,
    retry_schedule: Sequence[timedelta] = IMMEDIATE,
    with_outbox: bool = False,
    only_endpoint_id: str | None = None,
) -> EventPlan:
    """Pure: the rows for an event fanned out to the matching ``candidates`` (enabled
    endpoints with their subscriptions). ``only_endpoint_id`` targets one endpoint whatever
    its subscriptions (the endpoint test route)."""
    event_id = new_id("evt")
    body = encode_event_body(
        event_id=event_id, event_type=event_type, created_at=format_timestamp(now), data=data
    )
    event_row = {
        "id": event_id, "app_id": app_id, "type": event_type, "data": data, "body": body.decode(),
        "created_at": now, "source_job_id": source_job_id,
    }
    if only_endpoint_id is not None:
        targets = [c["id"] for c in candidates if c["id"] == only_endpoint_id]
    else:
        targets = [c["id"] for c in candidates if matches(c["event_types"] or [], event_type)]
    due = first_attempt_at(retry_schedule, now, random.random)
    announce = with_outbox and due <= now
    rows = [
        {
            "id": new_id("dlv"),
            "app_id": app_id,
            "event_id": event_id,
            "endpoint_id": endpoint_id,
            "event_type": event_type,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": due,
            # Marked as sent only when a message will follow the commit; otherwise the
            # scheduler sends it at once.
            "enqueued_at": now if announce else None,
            "locked_until": None,
            "last_attempt_at": None,
            "last_response_status": None,
            "last_error": None,
            "dead_reason": None,
            "created_at": now,
            "updated_at": now,
        }
        for endpoint_id in targets
    ]
    rows.sort(key=lambda row: row["id"])  # the order every later read returns them in
    return EventPlan(event_row, rows, announce)


async def record_event(
    connection: AsyncConnection,
    *,
    app_id: str,
    event_type: str,
    data: object,
    now: datetime,
    source_job_id: str | None = None,
    retry_schedule: Sequence[timedelta] = IMMEDIATE,
    outbox: Outbox | None = None,
    only_endpoint_id: str | None = None,
) -> RecordedEvent:
    """Write the event and its deliveries in the caller's transaction."""
    candidates = await endpoints_repo.enabled_endpoints(connection, app_id)
    plan = plan_event(
        app_id=app_id, event_type=event_type, data=data, now=now, candidates=candidates,
        source_job_id=source_job_id, retry_schedule=retry_schedule, with_outbox=outbox is not None,
        only_endpoint_id=only_endpoint_id,
    )
    await events_repo.insert_event(connection, plan.event_row)
    await deliveries_repo.insert_deliveries(connection, plan.delivery_rows)
    if plan.announce:
        outbox.delivery_ids.extend(row["id"] for row in plan.delivery_rows)
    return RecordedEvent(plan.id, now, plan.delivery_rows)


def _by_endpoint(row: dict) -> str:
    return row["endpoint_id"]


@dataclass(frozen=True)
class Publication:
    """One ``POST /v1/events`` waiting for its group commit."""

    app_id: str
    event_type: str
    data: object
    now: datetime


async def _record_events_direct(services, publications: list[Publication]) -> list[RecordedEvent]:
    """``POST /v1/events`` on PostgreSQL for the publications queued together (group commit),
    by psycopg itself in autocommit: one look-up of their applications' enabled endpoints, then
    every event and delivery in one statement. The deliver messages follow the commit, with the
    ids of the whole batch sharing messages."""
    async with services.database.driver_connection(autocommit=True) as driver:
        app_ids = sorted({publication.app_id for publication in publications})
        cursor = await driver.execute(endpoints_repo.ENABLED_ENDPOINTS_OF_APPS_SQL, {"app_ids": app_ids})
        candidates: dict[str, list[dict]] = {}
        for app_id, endpoint_id, event_types in await cursor.fetchall():
            candidates.setdefault(app_id, []).append({"id": endpoint_id, "event_types": event_types})
        plans = [
            plan_event(
                app_id=publication.app_id, event_type=publication.event_type, data=publication.data,
                now=publication.now, candidates=candidates.get(publication.app_id, []),
                retry_schedule=services.settings.retry_schedule, with_outbox=True,
            )
            for publication in publications
        ]
        # In endpoint order, the order in which workers lock endpoints: the foreign-key checks of
        # a large batch then take their endpoint locks in that order too, and cannot deadlock.
        delivery_rows = sorted((row for plan in plans for row in plan.delivery_rows), key=_by_endpoint)
        await events_repo.insert_events_with_deliveries_direct(driver, [plan.event_row for plan in plans], delivery_rows)
    outbox = Outbox([row["id"] for plan in plans if plan.announce for row in plan.delivery_rows])
    outbox.flush(services)
    return [RecordedEvent(plan.id, plan.event_row["created_at"], plan.delivery_rows) for plan in plans]


# --- the events API -------------------------------------------------------------------------

PUBLISH_SCOPE = "POST /v1/events"


def event_resource(row: dict, deliveries: list[dict]) -> dict:
    return {
        "id": row["id"],
        "type": row["type"],
        "created_at": format_timestamp(row["created_at"]),
        "data": row["data"],
        "deliveries": [delivery_resource(d) for d in deliveries],
    }


async def publish_event(
    services, *, app_id: str, event_type: str, data: object, idempotency: IdempotencyKey | None = None
) -> tuple[int, dict, bool]:
    """``POST /v1/events``: returns (status, body, replayed)."""
    now, outbox = utcnow(), Outbox()
    schedule = services.settings.retry_schedule
    if idempotency is None and services.database.is_postgres:
        # The common case: written by psycopg itself, together with the events other requests
        # are publishing at the same moment (group commit).
        writer = group_commit_for(
            services.group_commits, "events", lambda publications: _record_events_direct(services, publications)
        )
        event = await writer.submit(Publication(app_id, event_type, data, now))
        body = event_resource({"id": event.id, "type": event_type, "created_at": now, "data": data}, event.deliveries)
    else:
        async with services.database.transaction() as connection:
            if idempotency is not None:
                replay = await reserve_or_replay(
                    connection, app_id=app_id, scope=PUBLISH_SCOPE, idempotency=idempotency, now=now
                )
                if replay is not None:
                    return replay.status, replay.body, True
            event = await record_event(
                connection, app_id=app_id, event_type=event_type, data=data, now=now,
                retry_schedule=schedule, outbox=outbox,
            )
            body = event_resource(
                {"id": event.id, "type": event_type, "created_at": now, "data": data}, event.deliveries
            )
            if idempotency is not None:
                await remember_response(
                    connection, app_id=app_id, scope=PUBLISH_SCOPE, idempotency=idempotency, status=202, body=body
                )
    outbox.flush(services)
    return 202, body, False


async def get_event(services, *, app_id: str, event_id: str) -> dict:
    async with services.database.transaction() as connection:
        row = await events_repo.get_event(connection, event_id, app_id=app_id)
        if row is None:
            raise NotFound(f"no event {event_id}", code="event_not_found")
        deliveries = await deliveries_repo.deliveries_for_events(connection, [event_id])
    return event_resource(row, deliveries)


async def list_events(services, cursors: CursorCodec, *, app_id: str, limit: int, cursor: str | None, event_type: str | None) -> dict:
    before_id = cursors.decode(cursor, listing="events", app_id=app_id) if cursor else None
    async with services.database.transaction() as connection:
        rows = await events_repo.list_events(
            connection, app_id=app_id, limit=limit + 1, before_id=before_id, event_type=event_type
        )
        rows, more = page(rows, limit)
        deliveries = await deliveries_repo.deliveries_for_events(connection, [row["id"] for row in rows])
    by_event: dict[str, list[dict]] = {}
    for delivery in deliveries:
        by_event.setdefault(delivery["event_id"], []).append(delivery)
    next_cursor = cursors.encode(listing="events", app_id=app_id, last_id=rows[-1]["id"]) if more else None
    return {"data": [event_resource(row, by_event.get(row["id"], [])) for row in rows], "next_cursor": next_cursor}
