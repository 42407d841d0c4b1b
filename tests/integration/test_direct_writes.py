"""The one-statement writes of ``hookrelay.db.direct`` on real PostgreSQL: an event and its
deliveries are stored together or not at all, and a batch's attempts are recorded while each
outcome applies only where its guard holds."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import text

from hookrelay.db.group_commit import GroupCommit
from hookrelay.db.models import Delivery
from hookrelay.db.repositories import deliveries as deliveries_repo
from hookrelay.db.repositories import endpoints as endpoints_repo
from hookrelay.db.repositories import events as events_repo
from hookrelay.db.types import utcnow
from hookrelay.domain.ids import new_id
from hookrelay.jobs.registry import get_job_type, load_job_modules
from hookrelay.services import events as events_service
from hookrelay.services import jobs as jobs_service
from hookrelay.services.endpoints import create_endpoint
from hookrelay.services.events import plan_event, publish_event
from hookrelay.services.jobs import submit_job

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
            await events_repo.insert_events_with_deliveries_direct(driver, [plan.event_row], plan.delivery_rows)
    assert await _rows(services, "SELECT count(*) FROM events") == [(0,)]  # nothing half-written

    plan = plan_event(app_id=app_id, event_type="invoice.paid", data={"amount": 5, "note": None}, now=now,
                      candidates=candidates[:1], retry_schedule=(timedelta(0),), with_outbox=True)
    async with services.database.driver_connection(autocommit=True) as driver:
        await events_repo.insert_events_with_deliveries_direct(driver, [plan.event_row], plan.delivery_rows)
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


class CountingWrites:
    """Counts the statements a group-commit write function runs, around the real one."""

    def __init__(self, services, name: str, write) -> None:
        self.batches: list[int] = []

        async def counted(items: list):
            self.batches.append(len(items))
            return await write(services, items)

        services.group_commits[name] = GroupCommit(counted)


async def test_concurrent_job_submissions_share_statements_and_all_commit(services, app_key) -> None:
    load_job_modules(())
    counted = CountingWrites(services, "jobs", jobs_service._insert_jobs)
    job_type = get_job_type("demo.echo")
    submissions = await asyncio.gather(*(
        submit_job(services, app_id=app_key[0], job_type=job_type, job_input={"n": n}, metadata={"k": "v"},
                   idempotency=None)
        for n in range(40)
    ))
    ids = [submission.body["id"] for submission in submissions]
    assert len(set(ids)) == 40 and all(submission.status == 202 for submission in submissions)
    assert sum(counted.batches) == 40 and len(counted.batches) < 40  # grouped, none lost
    stored = await _rows(services, "SELECT id, input, metadata, status, max_attempts FROM jobs")
    assert sorted(stored) == sorted((ids[n], {"n": n}, {"k": "v"}, "pending", job_type.max_attempts) for n in range(40))
    assert sorted(job_id for job_id, _ in services.enqueue_job.sent) == sorted(ids)  # each announced after commit


async def test_concurrent_publications_fan_out_per_application(services, app_key, other_app_key) -> None:
    acme, globex = app_key[0], other_app_key[0]
    acme_all = await create_endpoint(services, app_id=acme, fields={"url": "http://127.0.0.1:9/all"})
    acme_paid = await create_endpoint(
        services, app_id=acme, fields={"url": "http://127.0.0.1:9/paid", "event_types": ["invoice.paid"]}
    )
    globex_all = await create_endpoint(services, app_id=globex, fields={"url": "http://127.0.0.1:9/g"})
    counted = CountingWrites(services, "events", events_service._record_events_direct)
    published = [(acme, "invoice.paid"), (acme, "invoice.sent"), (globex, "invoice.paid"), (acme, "invoice.paid")] * 5
    results = await asyncio.gather(*(
        publish_event(services, app_id=app_id, event_type=event_type, data={"n": n, "s": "é\"\\"})
        for n, (app_id, event_type) in enumerate(published)
    ))
    assert len(counted.batches) < len(published)
    expected_targets = {
        (acme, "invoice.paid"): {acme_all["id"], acme_paid["id"]},
        (acme, "invoice.sent"): {acme_all["id"]},
        (globex, "invoice.paid"): {globex_all["id"]},
    }
    for n, ((app_id, event_type), (status, body, _)) in enumerate(zip(published, results)):
        assert status == 202
        assert {d["endpoint_id"] for d in body["deliveries"]} == expected_targets[(app_id, event_type)]
        stored = await _rows(services, f"SELECT app_id, type, data, body FROM events WHERE id = '{body['id']}'")
        assert stored[0][:3] == (app_id, event_type, {"n": n, "s": "é\"\\"})
        assert json.loads(stored[0][3])["data"] == {"n": n, "s": "é\"\\"}  # the exact body, escapes intact
    all_deliveries = sorted(d["id"] for _, body, _ in results for d in body["deliveries"])
    assert sorted(await _rows(services, "SELECT id FROM deliveries")) == [(i,) for i in all_deliveries]
    announced = [delivery_id for ids, _ in services.enqueue_deliveries.sent for delivery_id in ids]
    assert sorted(announced) == all_deliveries
    assert len(services.enqueue_deliveries.sent) < len(published)  # a batch's ids share messages


async def test_one_refused_publication_does_not_fail_the_others(services, app_key) -> None:
    await create_endpoint(services, app_id=app_key[0], fields={"url": "http://127.0.0.1:9/all"})
    # PostgreSQL's jsonb cannot hold \u0000: that event is refused, the others in its batch commit.
    outcomes = await asyncio.gather(*(
        publish_event(services, app_id=app_key[0], event_type="invoice.paid", data={"text": text_value})
        for text_value in ("fine", "nul\u0000", "also fine")
    ), return_exceptions=True)
    assert outcomes[0][0] == 202 and outcomes[2][0] == 202
    assert isinstance(outcomes[1], psycopg.Error)
    assert await _rows(services, "SELECT count(*) FROM events") == [(2,)]


async def test_deliveries_pages_keep_room_for_the_lease_update(services) -> None:
    """Migrations 0004 and 0006 and the model agree: a lease (locked_until only) can be a HOT update."""
    assert await _rows(services, "SELECT reloptions FROM pg_class WHERE relname = 'deliveries'") == [
        (["fillfactor=50"],)
    ]
    assert Delivery.__table__.dialect_options["postgresql"]["with"] == {"fillfactor": 50}


async def test_publishing_does_not_wait_for_a_worker_holding_its_endpoint(services, app_key) -> None:
    """A worker recording a breaker holds the endpoint row (FOR NO KEY UPDATE); the foreign-key
    check of new deliveries (FOR KEY SHARE) must not queue behind it."""
    endpoint = await create_endpoint(services, app_id=app_key[0], fields={"url": "http://127.0.0.1:9/a"})
    async with services.database.transaction() as connection:
        locked = await endpoints_repo.lock_endpoints(connection, [endpoint["id"]])
        assert list(locked) == [endpoint["id"]]
        status, body, _ = await asyncio.wait_for(
            publish_event(services, app_id=app_key[0], event_type="invoice.paid", data={}), timeout=5
        )
    assert status == 202 and [d["endpoint_id"] for d in body["deliveries"]] == [endpoint["id"]]
