"""``/v1/dlq`` (one application's dead deliveries) and ``/v1/admin/dlq`` (every application's)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from hookrelay.api.auth import require_admin
from hookrelay.api.deliveries.controller import DeadReason
from hookrelay.api.params import parse_time
from hookrelay.errors import Unprocessable
from hookrelay.services import deliveries as deliveries_service
from hookrelay.services import redelivery
from hookrelay.services.cursors import DEFAULT_LIMIT, MAX_LIMIT

ALL_APPLICATIONS = "*"


class ReplayIn(msgspec.Struct, forbid_unknown_fields=True):
    ids: list[str] | None = None
    endpoint_id: str | None = None
    event_type: str | None = None
    reason: DeadReason | None = None
    since: str | None = None
    until: str | None = None


class DeadLetterController(Controller):
    path = "/v1/dlq"
    tags = ["dlq"]

    @get("/")
    async def list_dead(
        self,
        request: Request,
        app_id: NamedDependency[str],
        endpoint_id: FromQuery[str | None] = None,
        event_type: FromQuery[str | None] = None,
        reason: FromQuery[DeadReason | None] = None,
        since: FromQuery[str | None] = None,
        until: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: FromQuery[str | None] = None,
    ) -> dict:
        """Dead deliveries of this application, newest first, filterable by reason."""
        return await deliveries_service.list_deliveries(
            request.app.state.services, request.app.state.cursors, app_id=app_id, limit=limit, cursor=cursor,
            listing="dlq", status="dead", endpoint_id=endpoint_id, event_type=event_type, dead_reason=reason,
            since=parse_time("since", since), until=parse_time("until", until),
        )

    @post("/replay", status_code=202)
    async def replay(self, request: Request, app_id: NamedDependency[str], data: JSONBody[ReplayIn]) -> dict:
        """Dead deliveries, by `ids` or by filter, start the retry schedule again."""
        filters = {
            "endpoint_id": data.endpoint_id, "event_type": data.event_type, "dead_reason": data.reason,
            "since": parse_time("since", data.since), "until": parse_time("until", data.until),
        }
        if data.ids is None and all(value is None for value in filters.values()):
            raise Unprocessable(
                "give ids, or at least one filter (endpoint_id, event_type, reason, since, until)",
                errors=[{"field": "ids", "message": "ids or a filter is required"}],
            )
        requeued = await redelivery.replay_dead(
            request.app.state.services, app_id=app_id, ids=data.ids,
            filters={k: v for k, v in filters.items() if v is not None},
        )
        return {"requeued": requeued}

    @delete("/{delivery_id:str}", status_code=200)
    async def discard(self, request: Request, app_id: NamedDependency[str], delivery_id: FromPath[str]) -> dict:
        """Remove a dead delivery from the DLQ: it becomes `discarded`."""
        return await redelivery.discard(request.app.state.services, app_id=app_id, delivery_id=delivery_id)


class AdminDeadLetterController(Controller):
    path = "/v1/admin/dlq"
    tags = ["admin", "dlq"]
    dependencies = {"admin": Provide(require_admin)}

    @get("/")
    async def list_all_dead(
        self,
        request: Request,
        admin: NamedDependency[None],
        app: Annotated[str | None, QueryParameter(name="app_id")] = None,
        endpoint_id: FromQuery[str | None] = None,
        event_type: FromQuery[str | None] = None,
        reason: FromQuery[DeadReason | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: FromQuery[str | None] = None,
    ) -> dict:
        """Dead deliveries of every application (admin token)."""
        cursors = request.app.state.cursors
        before_id = cursors.decode(cursor, listing="admin-dlq", app_id=ALL_APPLICATIONS) if cursor else None
        return await deliveries_service.list_all_dead(
            request.app.state.services, cursors, limit=limit, before_id=before_id, app_id=app,
            endpoint_id=endpoint_id, event_type=event_type, dead_reason=reason,
        )
