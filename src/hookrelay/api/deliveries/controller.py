"""``/v1/deliveries``: one delivery (event × endpoint) and its attempts."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter

from hookrelay.api.params import parse_time
from hookrelay.services import deliveries as deliveries_service
from hookrelay.services import redelivery
from hookrelay.services.cursors import DEFAULT_LIMIT, MAX_LIMIT

AppId = NamedDependency[str]


DeliveryStatus = Literal["pending", "retrying", "succeeded", "dead", "discarded"]
DeadReason = Literal["rejected", "retries_exhausted", "gone", "endpoint_disabled"]


class DeliveriesController(Controller):
    path = "/v1/deliveries"
    tags = ["deliveries"]

    @get("/")
    async def list_deliveries(
        self,
        request: Request,
        app_id: AppId,
        endpoint_id: FromQuery[str | None] = None,
        event_id: FromQuery[str | None] = None,
        event_type: FromQuery[str | None] = None,
        status: FromQuery[DeliveryStatus | None] = None,
        since: FromQuery[str | None] = None,
        until: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: FromQuery[str | None] = None,
    ) -> dict:
        """The delivery log, newest first; `since` / `until` bound `created_at` (RFC 3339)."""
        return await deliveries_service.list_deliveries(
            request.app.state.services, request.app.state.cursors, app_id=app_id, limit=limit, cursor=cursor,
            endpoint_id=endpoint_id, event_id=event_id, event_type=event_type, status=status,
            since=parse_time("since", since), until=parse_time("until", until),
        )

    @get("/{delivery_id:str}")
    async def get_delivery(self, request: Request, app_id: AppId, delivery_id: FromPath[str]) -> dict:
        return await deliveries_service.get_delivery(request.app.state.services, app_id=app_id, delivery_id=delivery_id)

    @post("/{delivery_id:str}/redeliver", status_code=202)
    async def redeliver(self, request: Request, app_id: AppId, delivery_id: FromPath[str]) -> dict:
        """One immediate attempt: same webhook-id and body, fresh timestamp and signature.
        Success → succeeded; a failure leaves the status it had."""
        return await redelivery.redeliver(request.app.state.services, app_id=app_id, delivery_id=delivery_id)

    @get("/{delivery_id:str}/attempts")
    async def list_attempts(
        self,
        request: Request,
        app_id: AppId,
        delivery_id: FromPath[str],
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: FromQuery[str | None] = None,
    ) -> dict:
        """Every HTTP try: request URL and headers, response status, headers and first 4 KiB."""
        return await deliveries_service.list_attempts(
            request.app.state.services, request.app.state.cursors, app_id=app_id, delivery_id=delivery_id,
            limit=limit, cursor=cursor,
        )
