"""The jobs API's use cases: submit (with Idempotency-Key), read, list, wait, stream, cancel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from hookrelay.db import direct
from hookrelay.db.group_commit import group_commit_for
from hookrelay.db.repositories import jobs as jobs_repo
from hookrelay.db.types import utcnow
from hookrelay.domain.ids import new_id
from hookrelay.domain.jobs import JobStatus
from hookrelay.domain.timestamps import format_timestamp
from hookrelay.errors import Conflict, NotFound
from hookrelay.jobs.registry import JobType
from hookrelay.services.context import Services
from hookrelay.services.cursors import CursorCodec, page
from hookrelay.services.events import Outbox
from hookrelay.services.idempotency import IdempotencyKey, remember_response, reserve_or_replay
from hookrelay.services.job_lifecycle import finish_job, job_resource

SUBMIT_SCOPE = "POST /v1/jobs"
# A keep-alive comment on idle SSE streams, so proxies do not close them.
SSE_KEEPALIVE_SECONDS = 15.0


@dataclass(frozen=True)
class Submission:
    status: int
    body: dict
    replayed: bool


def accepted_body(job_id: str, job_type: str, created_at) -> dict:
    return {
        "id": job_id,
        "type": job_type,
        "status": JobStatus.PENDING.value,
        "status_url": f"/v1/jobs/{job_id}",
        "created_at": format_timestamp(created_at),
    }


async def submit_job(
    services: Services,
    *,
    app_id: str,
    job_type: JobType,
    job_input: object,
    metadata: object,
    idempotency: IdempotencyKey | None,
) -> Submission:
    now = utcnow()
    job_id = new_id("job")
    body = accepted_body(job_id, job_type.name, now)
    row = {
        "id": job_id,
        "app_id": app_id,
        "type": job_type.name,
        "status": JobStatus.PENDING.value,
        "input": job_input,
        "metadata": metadata,
        "attempts": 0,
        "max_attempts": job_type.max_attempts,
        "timeout_seconds": job_type.timeout.total_seconds(),
        "run_at": now,
        "enqueued_at": now,
        "cancel_requested": False,
        "created_at": now,
        "updated_at": now,
    }
    if idempotency is None and services.database.is_postgres:
        # The common case, and the hottest write there is: written by psycopg itself, together
        # with the jobs other requests are submitting at the same moment (group commit).
        await group_commit_for(services.group_commits, "jobs", lambda rows: _insert_jobs(services, rows)).submit(row)
    else:
        async with services.database.transaction() as connection:
            if idempotency is not None:
                replay = await reserve_or_replay(
                    connection, app_id=app_id, scope=SUBMIT_SCOPE, idempotency=idempotency, now=now
                )
                if replay is not None:
                    return Submission(replay.status, replay.body, replayed=True)
            await jobs_repo.insert_job(connection, row)
            if idempotency is not None:
                await remember_response(
                    connection, app_id=app_id, scope=SUBMIT_SCOPE, idempotency=idempotency, status=202, body=body
                )
    # After commit: if this send is lost, the scheduler re-sends once the job looks forgotten.
    services.enqueue_job(job_id, 0)
    return Submission(202, body, replayed=False)


async def _insert_jobs(services: Services, rows: list[dict]) -> list[None]:
    """One autocommit statement for every queued job row (``hookrelay.db.group_commit``)."""
    async with services.database.driver_connection(autocommit=True) as driver:
        if len(rows) == 1:
            await direct.insert_row(driver, jobs_repo.jobs, rows[0])
        else:
            statement = direct.insert_rows_statement(jobs_repo.jobs, tuple(rows[0]), "rows")
            await driver.execute(statement, {"rows": direct.rows_param(rows)})
    return [None] * len(rows)


async def read_job(services: Services, *, app_id: str, job_id: str) -> dict:
    async with services.database.transaction() as connection:
        row = await jobs_repo.get_job(connection, job_id, app_id=app_id)
    if row is None:
        raise NotFound(f"no job {job_id}", code="job_not_found")
    return job_resource(row)


async def wait_for_job(services: Services, *, app_id: str, job_id: str, wait_seconds: float) -> dict:
    """Long poll: the job once terminal, or its state after ``wait_seconds``. No database
    connection is held while waiting; each look is a short read of its own."""
    job = await read_job(services, app_id=app_id, job_id=job_id)
    if wait_seconds <= 0 or JobStatus(job["status"]).is_terminal:
        return job
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    async with services.notifier.subscribe(job_id) as waiter:
        job = await read_job(services, app_id=app_id, job_id=job_id)
        while not JobStatus(job["status"]).is_terminal:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await waiter.wait(remaining)
            job = await read_job(services, app_id=app_id, job_id=job_id)
    return job


async def stream_job(services: Services, *, app_id: str, job_id: str) -> AsyncIterator[dict | None]:
    """Yields the job on every change of status, progress or step, ending after a terminal
    state; yields None when idle for SSE_KEEPALIVE_SECONDS (a keep-alive)."""
    await read_job(services, app_id=app_id, job_id=job_id)  # 404 before the stream starts
    return _job_changes(services, app_id=app_id, job_id=job_id)


async def _job_changes(services: Services, *, app_id: str, job_id: str) -> AsyncIterator[dict | None]:
    async with services.notifier.subscribe(job_id) as waiter:
        last_seen = None
        while True:
            job = await read_job(services, app_id=app_id, job_id=job_id)
            seen = (job["status"], job["progress"], job["step"], job["attempts"])
            if seen != last_seen:
                last_seen = seen
                yield job
            if JobStatus(job["status"]).is_terminal:
                return
            if not await waiter.wait(SSE_KEEPALIVE_SECONDS):
                yield None


async def list_jobs(
    services: Services,
    cursors: CursorCodec,
    *,
    app_id: str,
    limit: int,
    cursor: str | None,
    status: str | None,
    job_type: str | None,
) -> dict:
    before_id = cursors.decode(cursor, listing="jobs", app_id=app_id) if cursor else None
    async with services.database.transaction() as connection:
        rows = await jobs_repo.list_jobs(
            connection, app_id=app_id, limit=limit + 1, before_id=before_id, status=status, job_type=job_type
        )
    rows, more = page(rows, limit)
    next_cursor = cursors.encode(listing="jobs", app_id=app_id, last_id=rows[-1]["id"]) if more else None
    return {"data": [job_resource(row) for row in rows], "next_cursor": next_cursor}


async def cancel_job(services: Services, *, app_id: str, job_id: str) -> tuple[int, dict]:
    """pending/retrying → cancelled now (200); processing → flagged, cancelled by its worker
    at its next progress report, heartbeat or return (202); terminal → 409."""
    for _ in range(3):
        now, outbox = utcnow(), Outbox()
        async with services.database.transaction() as connection:
            row = await jobs_repo.get_job(connection, job_id, app_id=app_id)
            if row is None:
                raise NotFound(f"no job {job_id}", code="job_not_found")
            status = JobStatus(row["status"])
            if status.is_terminal:
                raise Conflict(f"job {job_id} is already {status.value}", code="job_not_cancellable")
            if status is JobStatus.PROCESSING:
                updated, code = await jobs_repo.request_cancel(connection, job_id, now=now), 202
            else:
                updated = await finish_job(
                    connection, job_id, target=JobStatus.CANCELLED, now=now,
                    outbox=outbox, retry_schedule=services.settings.retry_schedule,
                )
                code = 200
        if updated is not None:
            outbox.flush(services)
            await services.notifier.publish(job_id)
            return code, job_resource(updated)
        # The job moved between our read and our write (a worker claimed it); look again.
    raise Conflict(f"job {job_id} is changing too fast to cancel; retry", code="job_busy")
