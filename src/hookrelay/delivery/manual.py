"""One immediate attempt outside the schedule (``POST /v1/deliveries/{id}/redeliver``).

Same webhook-id and body bytes, a fresh timestamp and signature, trigger ``manual``. Success
makes the delivery ``succeeded``; failure leaves the status it had (a dead delivery stays in
the DLQ, a retrying one keeps its next scheduled attempt).
"""

from __future__ import annotations

from datetime import timedelta

from hookrelay.db.repositories import deliveries as deliveries_repo
from hookrelay.db.types import utcnow
from hookrelay.delivery.client import DeliveryClient
from hookrelay.delivery.dispatcher import attempt_row, error_text, prepare
from hookrelay.errors import Conflict, NotFound


async def attempt_now(services, client: DeliveryClient, *, app_id: str, delivery_id: str, trigger: str = "manual") -> dict:
    """Returns the delivery row after the attempt."""
    lease = services.settings.delivery_timeout + timedelta(seconds=30)
    async with services.database.transaction() as connection:
        state = await deliveries_repo.lock_for_manual_attempt(
            connection, delivery_id, app_id=app_id, now=utcnow(), lease=lease
        )
        if state == "missing":
            raise NotFound(f"no delivery {delivery_id}", code="delivery_not_found")
        if state == "busy":
            raise Conflict(f"delivery {delivery_id} is being attempted right now; try again shortly", code="delivery_busy")
        [row] = await deliveries_repo.sendable_rows(connection, [delivery_id])
        if row["endpoint_status"] != "enabled":
            await deliveries_repo.release(connection, delivery_id)
    if row["endpoint_status"] != "enabled":
        raise Conflict(
            f"endpoint {row['endpoint_id']} is disabled; enable it before redelivering",
            code="endpoint_disabled", extra={"endpoint_ids": [row["endpoint_id"]]},
        )
    item = prepare(row)
    result = await client.send(item.request)
    now = utcnow()
    success = result.status is not None and 200 <= result.status < 300
    values = {
        "attempts": item.number,
        "last_attempt_at": now,
        "last_response_status": result.status,
        "last_error": error_text(result),
        "locked_until": None,
        "updated_at": now,
    }
    if success:
        values.update(status="succeeded", next_attempt_at=None, dead_reason=None)
    async with services.database.transaction() as connection:
        updated = await deliveries_repo.record_manual_outcome(
            connection, delivery_id, expected_attempts=row["attempts"], values=values
        )
        if updated is None:  # a scheduled attempt was recorded meanwhile; report what is there
            updated = await deliveries_repo.get_delivery(connection, delivery_id)
        if updated is None:  # deleted with its endpoint meanwhile: nothing left to record on
            raise NotFound(f"no delivery {delivery_id}: it was deleted during the attempt", code="delivery_not_found")
        await deliveries_repo.record_attempts(connection, [attempt_row(item, result, trigger, now, success=success)])
    return updated
