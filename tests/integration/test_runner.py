"""The job runner on real PostgreSQL, called directly (no broker): outcomes and time limits."""

from __future__ import annotations

import asyncio

import pytest

from hookrelay.db.repositories import events as events_repo
from hookrelay.db.repositories import jobs as jobs_repo
from hookrelay.jobs.registry import get_job_type, load_job_modules, registered_names
from hookrelay.jobs.runner import execute_job
from hookrelay.services.jobs import cancel_job, read_job, submit_job

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _test_jobs():
    load_job_modules(("tests.job_fixtures",))


async def _submit(services, app_id, job_type, job_input=None) -> str:
    submission = await submit_job(
        services, app_id=app_id, job_type=get_job_type(job_type), job_input=job_input or {},
        metadata={"origin": "test"}, idempotency=None,
    )
    return submission.body["id"]


async def _run_until_settled(services, app_id, job_id) -> dict:
    """Run the job, then each retry the runner scheduled, until it stops changing."""
    for _ in range(5):
        await execute_job(services, job_id)
        job = await read_job(services, app_id=app_id, job_id=job_id)
        if job["status"] != "retrying":
            return job
        await asyncio.sleep(0.05)  # past the (10ms-based) backoff
    return job


def test_job_modules_register_their_types():
    assert {"test.slow", "test.crash", "demo.echo"} <= set(registered_names())


async def test_echo_completes_with_its_input_as_result(services, app_key):
    job_id = await _submit(services, app_key[0], "demo.echo", {"hello": ["world"]})
    job = await _run_until_settled(services, app_key[0], job_id)
    assert job["status"] == "completed"
    assert job["result"] == {"hello": ["world"]}
    assert job["metadata"] == {"origin": "test"}
    assert job["started_at"] and job["finished_at"]


async def test_a_handler_over_its_time_limit_fails_with_timeout_after_its_attempts(services, app_key):
    job_id = await _submit(services, app_key[0], "test.slow")
    job = await _run_until_settled(services, app_key[0], job_id)
    assert job["status"] == "failed"
    assert job["attempts"] == 2
    assert job["error"]["code"] == "timeout"
    assert job["error"]["retryable"] is True
    retry_delays = [delay for sent_id, delay in services.enqueue_job.sent if sent_id == job_id and delay > 0]
    assert len(retry_delays) == 1 and 0.005 <= retry_delays[0] <= 0.011


async def test_an_unexpected_exception_is_a_retryable_handler_error(services, app_key):
    job_id = await _submit(services, app_key[0], "test.crash")
    job = await _run_until_settled(services, app_key[0], job_id)
    assert job["status"] == "failed" and job["attempts"] == 2
    assert job["error"]["code"] == "handler_error"
    assert "KeyError" in job["error"]["message"]


async def test_a_result_that_is_not_json_fails_the_job(services, app_key):
    job_id = await _submit(services, app_key[0], "test.unserializable")
    job = await _run_until_settled(services, app_key[0], job_id)
    assert job["status"] == "failed"
    assert job["error"]["code"] == "invalid_result"


async def test_a_worker_without_the_handler_fails_the_job_clearly(services, app_key):
    job_id = await _submit(services, app_key[0], "demo.echo")
    async with services.database.transaction() as connection:
        from sqlalchemy import text

        await connection.execute(text("UPDATE jobs SET type = 'gone.away' WHERE id = :id"), {"id": job_id})
    job = await _run_until_settled(services, app_key[0], job_id)
    assert job["status"] == "failed"
    assert job["error"]["code"] == "unknown_job_type"


async def test_cancel_while_processing_takes_effect_at_the_next_progress_report(services, app_key):
    job_id = await _submit(services, app_key[0], "test.progress_then_wait", {"pause": 0.5})
    running = asyncio.create_task(execute_job(services, job_id))
    for _ in range(100):
        job = await read_job(services, app_id=app_key[0], job_id=job_id)
        if job["progress"] == 10:
            break
        await asyncio.sleep(0.01)
    status_code, flagged = await cancel_job(services, app_id=app_key[0], job_id=job_id)
    assert status_code == 202 and flagged["status"] == "processing" and flagged["cancel_requested"]
    await running
    job = await read_job(services, app_id=app_key[0], job_id=job_id)
    assert job["status"] == "cancelled"
    assert job["progress"] == 10  # the second report never landed
    async with services.database.transaction() as connection:
        events = await events_repo.events_for_job(connection, job_id)
    assert [event["type"] for event in events] == ["job.cancelled"]


async def test_a_duplicate_message_does_not_run_a_job_twice(services, app_key):
    job_id = await _submit(services, app_key[0], "demo.echo", {"n": 1})
    await asyncio.gather(execute_job(services, job_id), execute_job(services, job_id))
    async with services.database.transaction() as connection:
        job = await jobs_repo.get_job(connection, job_id)
        events = await events_repo.events_for_job(connection, job_id)
    assert job["attempts"] == 1
    assert [event["type"] for event in events] == ["job.completed"]
