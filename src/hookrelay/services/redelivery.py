"""Sending again: manual redelivery, endpoint recovery, DLQ replay and discard.

Replay and recover put deliveries back at the start of the retry schedule, due now; the normal
pipeline then sends them, so the endpoint's breaker and rate limit apply. A requeue is a
guarded UPDATE, so replaying the same deliveries twice at once sends each once.
"""

from __future__ import annotations

import asyncio
import weakref
from datetime import datetime

from hookrelay.db.repositories import deliveries as deliveries_repo
from hookrelay.db.repositories import endpoints as endpoints_repo
from hookrelay.db.types import utcnow
from hookrelay.errors import Conflict, NotFound, Unprocessable
from hookrelay.services.context import Services
from hookrelay.services.deliveries import delivery_resource

MAX_REPLAY_IDS = 1000
_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _client_for_current_loop(services: Services):
    """The API process's own HTTP pool for manual attempts (created on first use)."""
    from hookrelay.delivery.client import DeliveryClient

    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = _clients[loop] = DeliveryClient.from_settings(services.settings)
    return client


async def redeliver(services: Services, *, app_id: str, delivery_id: str) -> dict:
    from hookrelay.delivery.manual import attempt_now

    row = await attempt_now(services, _client_for_current_loop(services), app_id=app_id, delivery_id=delivery_id)
    return delivery_resource(row)


def _refuse_disabled(endpoint_ids: list[str]) -> None:
    if endpoint_ids:
        names = ", ".join(endpoint_ids)
        raise Conflict(
            f"endpoint {names} is disabled; enable it before replaying its deliveries",
            code="endpoint_disabled", extra={"endpoint_ids": endpoint_ids},
        )


async def recover_endpoint(
    services: Services, *, app_id: str, endpoint_id: str, since: datetime, until: datetime | None
) -> int:
    """Every retrying or dead delivery of the endpoint created in [since, until) starts the
    retry schedule again (trigger ``recover``)."""
    if until is not None and until <= since:
        raise Unprocessable("until must be after since", errors=[{"field": "until", "message": "must be after since"}])
    async with services.database.transaction() as connection:
        endpoint = await endpoints_repo.get_endpoint(connection, endpoint_id, app_id=app_id)
        if endpoint is None:
            raise NotFound(f"no endpoint {endpoint_id}", code="endpoint_not_found")
        if endpoint["status"] != "enabled":
            _refuse_disabled([endpoint_id])
        ids = await deliveries_repo.requeue(
            connection, app_id=app_id, trigger="recover", now=utcnow(), from_statuses=("retrying", "dead"),
            endpoint_id=endpoint_id, since=since, until=until,
        )
    services.enqueue_deliveries(ids)
    return len(ids)


async def replay_dead(services: Services, *, app_id: str, ids: list[str] | None, filters: dict) -> int:
    """Dead deliveries, by ids or by filter, start the retry schedule again (trigger ``replay``)."""
    if ids is not None and len(ids) > MAX_REPLAY_IDS:
        raise Unprocessable(f"at most {MAX_REPLAY_IDS} ids per replay", errors=[{"field": "ids", "message": "too many"}])
    selection = {"ids": ids, **filters}
    async with services.database.transaction() as connection:
        _refuse_disabled(
            await deliveries_repo.disabled_endpoints_among(connection, app_id=app_id, from_statuses=("dead",), **selection)
        )
        requeued = await deliveries_repo.requeue(
            connection, app_id=app_id, trigger="replay", now=utcnow(), from_statuses=("dead",), **selection
        )
    services.enqueue_deliveries(requeued)
    return len(requeued)


async def discard(services: Services, *, app_id: str, delivery_id: str) -> dict:
    async with services.database.transaction() as connection:
        row = await deliveries_repo.discard(connection, delivery_id, app_id=app_id, now=utcnow())
        if row is None:
            existing = await deliveries_repo.get_delivery(connection, delivery_id, app_id=app_id)
    if row is None:
        if existing is None:
            raise NotFound(f"no delivery {delivery_id}", code="delivery_not_found")
        raise Conflict(f"delivery {delivery_id} is {existing['status']}, not in the DLQ", code="not_dead")
    return delivery_resource(row)
