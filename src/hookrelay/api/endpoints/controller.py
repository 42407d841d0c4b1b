"""``/v1/endpoints``: where an application's webhooks go."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from hookrelay.api.endpoints.schemas import (
    EndpointCreated,
    EndpointIn,
    EndpointList,
    EndpointOut,
    EndpointPatch,
    RecoverIn,
    Secret,
)
from hookrelay.api.params import parse_time
from hookrelay.services import endpoints as endpoints_service
from hookrelay.services.events import get_event
from hookrelay.services.redelivery import recover_endpoint
from hookrelay.services.cursors import DEFAULT_LIMIT, MAX_LIMIT

AppId = NamedDependency[str]


class EndpointsController(Controller):
    path = "/v1/endpoints"
    tags = ["endpoints"]

    @post("/", status_code=201)
    async def create(self, request: Request, app_id: AppId, data: JSONBody[EndpointIn]) -> EndpointCreated:
        """Register an endpoint; the answer carries its `whsec_` signing secret."""
        created = await endpoints_service.create_endpoint(
            request.app.state.services, app_id=app_id, fields=msgspec.to_builtins(data)
        )
        return msgspec.convert(created, EndpointCreated)

    @get("/")
    async def list_endpoints(
        self,
        request: Request,
        app_id: AppId,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: FromQuery[str | None] = None,
    ) -> EndpointList:
        result = await endpoints_service.list_endpoints(
            request.app.state.services, request.app.state.cursors, app_id=app_id, limit=limit, cursor=cursor
        )
        return msgspec.convert(result, EndpointList)

    @get("/{endpoint_id:str}")
    async def get_endpoint(self, request: Request, app_id: AppId, endpoint_id: FromPath[str]) -> EndpointOut:
        found = await endpoints_service.get_endpoint(request.app.state.services, app_id=app_id, endpoint_id=endpoint_id)
        return msgspec.convert(found, EndpointOut)

    @patch("/{endpoint_id:str}")
    async def update(
        self, request: Request, app_id: AppId, endpoint_id: FromPath[str], data: JSONBody[EndpointPatch]
    ) -> EndpointOut:
        updated = await endpoints_service.update_endpoint(
            request.app.state.services, app_id=app_id, endpoint_id=endpoint_id, changes=data.changes()
        )
        return msgspec.convert(updated, EndpointOut)

    @delete("/{endpoint_id:str}", status_code=204)
    async def remove(self, request: Request, app_id: AppId, endpoint_id: FromPath[str]) -> None:
        await endpoints_service.delete_endpoint(request.app.state.services, app_id=app_id, endpoint_id=endpoint_id)

    @post("/{endpoint_id:str}/enable", status_code=200)
    async def enable(self, request: Request, app_id: AppId, endpoint_id: FromPath[str]) -> EndpointOut:
        updated = await endpoints_service.set_enabled(
            request.app.state.services, app_id=app_id, endpoint_id=endpoint_id, enabled=True
        )
        return msgspec.convert(updated, EndpointOut)

    @post("/{endpoint_id:str}/disable", status_code=200)
    async def disable(self, request: Request, app_id: AppId, endpoint_id: FromPath[str]) -> EndpointOut:
        updated = await endpoints_service.set_enabled(
            request.app.state.services, app_id=app_id, endpoint_id=endpoint_id, enabled=False
        )
        return msgspec.convert(updated, EndpointOut)

    @get("/{endpoint_id:str}/secret")
    async def secret(self, request: Request, app_id: AppId, endpoint_id: FromPath[str]) -> Secret:
        found = await endpoints_service.get_secret(request.app.state.services, app_id=app_id, endpoint_id=endpoint_id)
        return Secret(**found)

    @post("/{endpoint_id:str}/secret/rotate", status_code=200)
    async def rotate_secret(self, request: Request, app_id: AppId, endpoint_id: FromPath[str]) -> Secret:
        """A new secret; the old one keeps signing for HOOKRELAY_SECRET_ROTATION_GRACE."""
        rotated = await endpoints_service.rotate_secret(request.app.state.services, app_id=app_id, endpoint_id=endpoint_id)
        return Secret(**rotated)

    @get("/{endpoint_id:str}/health")
    async def health(self, request: Request, app_id: AppId, endpoint_id: FromPath[str]) -> dict:
        """The circuit breaker and recent success rate of this endpoint."""
        return await endpoints_service.get_health(request.app.state.services, app_id=app_id, endpoint_id=endpoint_id)

    @post("/{endpoint_id:str}/recover", status_code=202)
    async def recover(
        self, request: Request, app_id: AppId, endpoint_id: FromPath[str], data: JSONBody[RecoverIn]
    ) -> dict:
        """Every failed or dead delivery of this endpoint created in [since, until) starts the
        retry schedule again."""
        requeued = await recover_endpoint(
            request.app.state.services, app_id=app_id, endpoint_id=endpoint_id,
            since=parse_time("since", data.since), until=parse_time("until", data.until),
        )
        return {"requeued": requeued}

    @post("/{endpoint_id:str}/test", status_code=202)
    async def send_test(self, request: Request, app_id: AppId, endpoint_id: FromPath[str]) -> dict:
        """Send a `webhook.test` event to this endpoint alone."""
        services = request.app.state.services
        event_id = await endpoints_service.send_test_event(services, app_id=app_id, endpoint_id=endpoint_id)
        return await get_event(services, app_id=app_id, event_id=event_id)
