"""The one-statement writes of ``hookrelay.db.direct`` on real PostgreSQL: an event and its
deliveries are stored together or not at all, and a batch's attempts are recorded while each
outcome applies only where its guard holds."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import text

from hookrelay.db.repositories import deliveries as deliveries_repo
from hookrelay.db.repositories import events as events_repo
from hookrelay.db.types import utcnow
from hookrelay.domain.ids import new_id
from hookrelay.services.endpoints import create_endpoint
from hookrelay.services.events import plan_event, publish_event

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(settings):
    return settings.with_overrides(allow_private_targets=True)


async def _rows(services, sql: str) -> list[tuple]:
    async with services.database.transaction() as connection:
        return [tuple(row) for row in await connection.execute(text(sql))]


async def test_event_and_deliveries_are_one_statement(services, app_key) -> None:
    app_id = app_key[0]
    endpoint = await create_endpoint(services, app_id=app_id, fields={"url": "http://127.0.0.1:9/a"})
    now = utcnow()
    candidates = [{"id": endpoint["id"], "event_types": ["*"]}, {"id": "ep_missing", "event_types": ["*"]}]
    plan = plan_event(app_id=app_id, event_type="invoice.paid", data={"amount": 5, "note": None}, now=now,
                      candidates=candidates, retry_schedule=(timedelta(0),), with_outbox=True)
    async with services.database.driver_connection(autocommit=True) as driver:
        with pytest.raises(psycopg.errors.ForeignKeyViolation):  # the second endpoint does not exist
            await events_repo.insert_event_with_deliveries_direct(driver, plan.event_row, plan.delivery_rows)
    assert await _rows(services, "SELECT count(*) FROM events") == [(0,)]  # nothing half-written

    plan = plan_event(app_id=app_id, event_type="invoice.paid", data={"amount": 5, "note": None}, now=now,
                      candidates=candidates[:1], retry_schedule=(timedelta(0),), with_outbox=True)
    async with services.database.driver_connection(autocommit=True) as driver:
        await events_repo.insert_event_with_deliveries_direct(driver, plan.event_row, plan.delivery_rows)
    assert await _rows(services, "SELECT id, data FROM events") == [(plan.id, {"amount": 5, "note": None})]
    stored = await _rows(services, "SELECT id, event_id, endpoint_id, status, attempts, created_at FROM deliveries")
    expected = plan.delivery_rows[0]
    assert stored == [(expected["id"], plan.id, endpoint["id"], "pending", 0, expected["created_at"])]


async def test_attempts_are_recorded_and_only_guarded_outcomes_apply(services, app_key) -> None:
    app_id = app_key[0]
    for url in ("http://127.0.0.1:9/a", "http://127.0.0.1:9/b"):
        await create_endpoint(services, app_id=app_id, fields={"url": url})
    status, body, _ = await publish_event(services, app_id=app_id, event_type="invoice.paid", data={})
    assert status == 202
    first, second = (d["id"] for d in body["deliveries"])
    now = utcnow()

    def attempt(delivery_id: str, status_code: int | None) -> dict:
        return {
            "id": new_id("att"), "delivery_id": delivery_id, "app_id": app_id, "number": 1, "trigger": "initial",
            "started_at": now, "duration_ms": 1.5, "request_url": "http://127.0.0.1:9/a",
            "request_headers": {"webhook-id": "msg_1"}, "response_status": status_code,
            "response_headers": {"x-a": "1"} if status_code else None, "response_body": "ok" if status_code else None,
            "error": None if status_code else "timeout", "outcome": "success" if status_code else "failure",
        }

    def outcome(delivery_id: str, expected_attempts: int) -> dict:
        return {
            "delivery_id": delivery_id, "expected_attempts": expected_attempts, "status": "succeeded",
            "attempts": 1, "next_attempt_at": None, "enqueued_at": None, "dead_reason": None,
            "last_attempt_at": now, "last_response_status": 200, "last_error": None, "locked_until": None,
            "next_trigger": "scheduled", "updated_at": now,
        }

    async with services.database.driver_connection(autocommit=True) as driver:
        applied = await deliveries_repo.record_outcomes_direct(
            driver,
            [attempt(first, 200), attempt(second, None)],
            [outcome(first, 0), outcome(second, 7)],  # the second was attempted since: stale
        )
    assert applied == 1
    assert await _rows(services, "SELECT id, status, attempts FROM deliveries ORDER BY id") == sorted(
        [(first, "succeeded", 1), (second, "pending", 0)]
    )
    recorded = await _rows(
        services, "SELECT delivery_id, response_status, response_headers->>'x-a', error FROM attempts ORDER BY delivery_id"
    )
    assert recorded == sorted([(first, 200, "1", None), (second, None, None, "timeout")])
