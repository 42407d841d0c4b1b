"""``/v1/deliveries``: one delivery (event × endpoint) and its attempts."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter

from hookrelay.services import deliveries as deliveries_service
from hookrelay.services.cursors import DEFAULT_LIMIT, MAX_LIMIT

AppId = NamedDependency[str]


class DeliveriesController(Controller):
    path = "/v1/deliveries"
    tags = ["deliveries"]

    @get("/{delivery_id:str}")
    async def get_delivery(self, request: Request, app_id: AppId, delivery_id: FromPath[str]) -> dict:
        return await deliveries_service.get_delivery(request.app.state.services, app_id=app_id, delivery_id=delivery_id)

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
