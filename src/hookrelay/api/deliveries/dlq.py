"""``/v1/dlq``: dead deliveries, for ops (replay and discard come with the DLQ issue)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter

from hookrelay.api.deliveries.controller import DeadReason, parse_time
from hookrelay.services import deliveries as deliveries_service
from hookrelay.services.cursors import DEFAULT_LIMIT, MAX_LIMIT


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
