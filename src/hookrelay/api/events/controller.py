"""``/v1/events``: publish an event to every subscribed endpoint; read events back."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter

from hookrelay.api.params import refuse_unstorable_text
from hookrelay.domain.idempotency import fingerprint, is_valid_key
from hookrelay.errors import BadRequest, PayloadTooLarge
from hookrelay.services import events as events_service
from hookrelay.services.cursors import DEFAULT_LIMIT, MAX_LIMIT
from hookrelay.services.idempotency import IdempotencyKey

AppId = NamedDependency[str]
EventType = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._-]+$")]


class EventIn(msgspec.Struct, forbid_unknown_fields=True):
    type: EventType
    data: dict[str, Any] = msgspec.field(default_factory=dict)


class EventsController(Controller):
    path = "/v1/events"
    tags = ["events"]

    @post("/", status_code=202)
    async def publish(
        self,
        request: Request,
        app_id: AppId,
        data: JSONBody[EventIn],
        idempotency_key: Annotated[str | None, HeaderParameter(name="Idempotency-Key")] = None,
    ) -> Response[dict]:
        """Record an event and one delivery per matching enabled endpoint (202)."""
        services = request.app.state.services
        encoded = msgspec.json.encode(data.data)
        if len(encoded) > services.settings.max_payload_bytes:
            raise PayloadTooLarge("the event data is larger than HOOKRELAY_MAX_PAYLOAD_BYTES")
        refuse_unstorable_text("data", encoded)
        idempotency = None
        if idempotency_key is not None:
            if not is_valid_key(idempotency_key):
                raise BadRequest("Idempotency-Key must be 1 to 255 printable characters", code="invalid_idempotency_key")
            body = {"type": data.type, "data": data.data}
            idempotency = IdempotencyKey(idempotency_key, fingerprint(events_service.PUBLISH_SCOPE, body))
        status, body, replayed = await events_service.publish_event(
            services, app_id=app_id, event_type=data.type, data=data.data, idempotency=idempotency
        )
        headers = {"Location": f"/v1/events/{body['id']}"}
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(body, status_code=status, headers=headers)

    @get("/")
    async def list_events(
        self,
        request: Request,
        app_id: AppId,
        event_type: Annotated[str | None, QueryParameter(name="type")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: FromQuery[str | None] = None,
    ) -> dict:
        return await events_service.list_events(
            request.app.state.services, request.app.state.cursors, app_id=app_id, limit=limit,
            cursor=cursor, event_type=event_type,
        )

    @get("/{event_id:str}")
    async def get_event(self, request: Request, app_id: AppId, event_id: FromPath[str]) -> dict:
        return await events_service.get_event(request.app.state.services, app_id=app_id, event_id=event_id)
