"""Guarded status writes and the transactional outbox, on real PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import text, update

from hookrelay.db.models import Job
from hookrelay.db.repositories import events as events_repo
from hookrelay.db.repositories import jobs as jobs_repo
from hookrelay.db.types import utcnow
from hookrelay.domain.jobs import JobStatus
from hookrelay.jobs.registry import get_job_type, load_job_modules
from hookrelay.scheduler import run_tick
from hookrelay.services.job_lifecycle import finish_job
from hookrelay.services.jobs import submit_job

pytestmark = pytest.mark.integration

LEASE = timedelta(seconds=30)


async def _submit(services, app_id: str, job_type: str) -> str:
    load_job_modules(())
    submission = await submit_job(
        services, app_id=app_id, job_type=get_job_type(job_type), job_input={"n": 1},
        metadata=None, idempotency=None,
    )
    return submission.body["id"]


@pytest.fixture
async def job_id(services, app_key) -> str:
    """A demo.sleep job: up to three attempts."""
    return await _submit(services, app_key[0], "demo.sleep")


async def _status_and_events(services, job_id):
    async with services.database.transaction() as connection:
        job = await jobs_repo.get_job(connection, job_id)
        events = await events_repo.events_for_job(connection, job_id)
    return job["status"], [event["type"] for event in events]


async def test_a_claim_loses_cleanly_to_a_concurrent_claim(services, job_id):
    engine = services.database.engine
    async with engine.connect() as first:
        await first.begin()
        won = await jobs_repo.claim(first, job_id, now=utcnow(), lease=LEASE)
        assert won is not None and won["attempts"] == 1

        async def second_claim():
            async with services.database.transaction() as second:
                return await jobs_repo.claim(second, job_id, now=utcnow(), lease=LEASE)

        racing = asyncio.create_task(second_claim())
        await asyncio.sleep(0.2)
        assert not racing.done(), "the second claim should wait on the row lock"
        await first.commit()
    assert await racing is None
    status, _ = await _status_and_events(services, job_id)
    assert status == "processing"


async def test_completion_and_failure_racing_leave_one_status_and_one_event(services, job_id):
    async with services.database.transaction() as connection:
        await jobs_repo.claim(connection, job_id, now=utcnow(), lease=LEASE)
    async with services.database.engine.connect() as worker:
        await worker.begin()
        completed = await finish_job(worker, job_id, target=JobStatus.COMPLETED, now=utcnow(), attempt=1, result={"ok": 1})
        assert completed is not None

        async def scheduler_fails_it():
            async with services.database.transaction() as connection:
                return await finish_job(connection, job_id, target=JobStatus.FAILED, now=utcnow(), attempt=1,
                                        error={"code": "worker_lost"})

        racing = asyncio.create_task(scheduler_fails_it())
        await asyncio.sleep(0.2)
        await worker.commit()
    assert await racing is None
    assert await _status_and_events(services, job_id) == ("completed", ["job.completed"])


async def test_outbox_event_is_rolled_back_with_its_status_change(services, job_id):
    async with services.database.transaction() as connection:
        await jobs_repo.claim(connection, job_id, now=utcnow(), lease=LEASE)
    with pytest.raises(RuntimeError):
        async with services.database.transaction() as connection:
            assert await finish_job(connection, job_id, target=JobStatus.COMPLETED, now=utcnow(), attempt=1, result=1)
            raise RuntimeError("crash before commit")
    assert await _status_and_events(services, job_id) == ("processing", [])


async def test_outbox_event_commits_with_its_status_change(services, job_id):
    async with services.database.transaction() as connection:
        await jobs_repo.claim(connection, job_id, now=utcnow(), lease=LEASE)
    async with services.database.transaction() as connection:
        await finish_job(connection, job_id, target=JobStatus.COMPLETED, now=utcnow(), attempt=1, result={"r": 2})
    assert await _status_and_events(services, job_id) == ("completed", ["job.completed"])
    async with services.database.transaction() as connection:
        [event] = await events_repo.events_for_job(connection, job_id)
    assert event["data"]["id"] == job_id
    assert event["data"]["status"] == "completed"
    assert event["data"]["result"] == {"r": 2}
    assert event["id"].startswith("evt_")


async def test_a_terminal_job_cannot_be_moved_again(services, job_id):
    async with services.database.transaction() as connection:
        await finish_job(connection, job_id, target=JobStatus.CANCELLED, now=utcnow())
    async with services.database.transaction() as connection:
        assert await jobs_repo.claim(connection, job_id, now=utcnow(), lease=LEASE) is None
        assert await finish_job(connection, job_id, target=JobStatus.FAILED, now=utcnow()) is None
    assert await _status_and_events(services, job_id) == ("cancelled", ["job.cancelled"])


async def test_a_stale_attempt_cannot_write_after_its_job_was_reclaimed(services, job_id):
    async with services.database.transaction() as connection:
        await jobs_repo.claim(connection, job_id, now=utcnow(), lease=LEASE)
        await connection.execute(
            update(Job.__table__).where(Job.__table__.c.id == job_id).values(lease_expires_at=utcnow() - LEASE)
        )
    report = await run_tick(services)
    assert report.requeued_leases == 1
    async with services.database.transaction() as connection:
        second = await jobs_repo.claim(connection, job_id, now=utcnow(), lease=LEASE)
    assert second["attempts"] == 2
    async with services.database.transaction() as connection:
        stale = await finish_job(connection, job_id, target=JobStatus.COMPLETED, now=utcnow(), attempt=1, result=1)
        progress = await jobs_repo.record_progress(
            connection, job_id, attempt=1, progress=50, step=None, now=utcnow(), lease=LEASE
        )
    assert stale is None and progress is None


async def test_scheduler_fails_a_lost_job_with_worker_lost_after_max_attempts(services, app_key):
    # demo.echo allows one attempt: a lapsed lease on attempt 1 is final.
    job_id = await _submit(services, app_key[0], "demo.echo")
    async with services.database.transaction() as connection:
        await jobs_repo.claim(connection, job_id, now=utcnow(), lease=timedelta(milliseconds=1))
    await asyncio.sleep(0.05)
    report = await run_tick(services)
    assert report.failed_leases == 1
    async with services.database.transaction() as connection:
        job = await jobs_repo.get_job(connection, job_id)
    assert job["status"] == "failed"
    assert job["error"]["code"] == "worker_lost"
    assert await _status_and_events(services, job_id) == ("failed", ["job.failed"])


async def test_scheduler_resends_a_due_job_whose_message_was_lost(services, job_id):
    services.enqueue_job.sent.clear()
    assert (await run_tick(services)).resent == 0  # just sent: not yet considered lost
    async with services.database.transaction() as connection:
        await connection.execute(text("UPDATE jobs SET enqueued_at = enqueued_at - interval '1 hour'"))
    report = await run_tick(services)
    assert report.resent == 1
    assert services.enqueue_job.sent == [(job_id, 0)]
    assert (await run_tick(services)).resent == 0


async def test_only_one_scheduler_acts_at_a_time(services):
    from hookrelay.scheduler import ADVISORY_LOCK_KEY

    async with services.database.engine.connect() as other_scheduler:
        await other_scheduler.execute(text("SELECT pg_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
        await other_scheduler.commit()
        assert await run_tick(services) is None
        await other_scheduler.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_KEY})
        await other_scheduler.commit()
    assert await run_tick(services) is not None
