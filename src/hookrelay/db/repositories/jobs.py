"""SQL for the jobs table. Status writes name their allowed sources from the domain table."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hookrelay.db.models import Job
from hookrelay.db.repositories._dialect import for_update_skip_locked
from hookrelay.domain.jobs import JobStatus, sources_for

jobs = Job.__table__


def _as_dict(row) -> dict | None:
    return dict(row._mapping) if row is not None else None


async def insert_job(connection: AsyncConnection, values: dict) -> None:
    await connection.execute(insert(jobs), values)


async def get_job(connection: AsyncConnection, job_id: str, *, app_id: str | None = None) -> dict | None:
    statement = select(jobs).where(jobs.c.id == job_id)
    if app_id is not None:
        statement = statement.where(jobs.c.app_id == app_id)
    return _as_dict((await connection.execute(statement)).first())


async def list_jobs(
    connection: AsyncConnection,
    *,
    app_id: str,
    limit: int,
    before_id: str | None = None,
    status: str | None = None,
    job_type: str | None = None,
) -> list[dict]:
    statement = select(jobs).where(jobs.c.app_id == app_id)
    if before_id:
        statement = statement.where(jobs.c.id < before_id)
    if status:
        statement = statement.where(jobs.c.status == status)
    if job_type:
        statement = statement.where(jobs.c.type == job_type)
    rows = await connection.execute(statement.order_by(jobs.c.id.desc()).limit(limit))
    return [dict(row._mapping) for row in rows]


async def claim(connection: AsyncConnection, job_id: str, *, now: datetime, lease: timedelta) -> dict | None:
    """pending|retrying → processing, if due; counts the attempt and starts the lease."""
    row = await connection.execute(
        update(jobs)
        .where(
            jobs.c.id == job_id,
            jobs.c.status.in_(sources_for(JobStatus.PROCESSING)),
            jobs.c.run_at <= now,
        )
        .values(
            status=JobStatus.PROCESSING.value,
            attempts=jobs.c.attempts + 1,
            started_at=func.coalesce(jobs.c.started_at, now),
            lease_expires_at=now + lease,
            updated_at=now,
        )
        .returning(*jobs.c)
    )
    return _as_dict(row.first())


def _held_by(job_id: str, attempt: int):
    """A running attempt's own row: still processing, and not re-claimed since by anyone."""
    return and_(jobs.c.id == job_id, jobs.c.status == JobStatus.PROCESSING.value, jobs.c.attempts == attempt)


async def renew_lease(
    connection: AsyncConnection, job_id: str, *, attempt: int, now: datetime, lease: timedelta
) -> bool | None:
    """Heartbeat. Returns cancel_requested, or None when this attempt no longer holds the job."""
    row = await connection.execute(
        update(jobs)
        .where(_held_by(job_id, attempt))
        .values(lease_expires_at=now + lease)
        .returning(jobs.c.cancel_requested)
    )
    return row.scalar_one_or_none()


async def record_progress(
    connection: AsyncConnection,
    job_id: str,
    *,
    attempt: int,
    progress: int,
    step: str | None,
    now: datetime,
    lease: timedelta,
) -> dict | None:
    """Progress of a running attempt; None if it lost the job or its owner asked to cancel."""
    row = await connection.execute(
        update(jobs)
        .where(_held_by(job_id, attempt), jobs.c.cancel_requested.is_(False))
        .values(progress=progress, step=step, updated_at=now, lease_expires_at=now + lease)
        .returning(*jobs.c)
    )
    return _as_dict(row.first())


async def finish(
    connection: AsyncConnection,
    job_id: str,
    *,
    target: JobStatus,
    now: datetime,
    attempt: int | None = None,
    result: object = None,
    error: dict | None = None,
    require_cancel_requested: bool | None = None,
) -> dict | None:
    """Move a job to a terminal status, guarded by the allowed sources (and by the attempt that
    holds it, when a worker is the writer). Returns the updated row, or None if someone else won."""
    conditions = [jobs.c.id == job_id, jobs.c.status.in_(sources_for(target))]
    if attempt is not None:
        conditions.append(jobs.c.attempts == attempt)
    if require_cancel_requested is not None:
        conditions.append(jobs.c.cancel_requested.is_(require_cancel_requested))
    values: dict = {"status": target.value, "updated_at": now, "finished_at": now, "lease_expires_at": None}
    if target is JobStatus.COMPLETED:
        values.update(result=result, progress=100)
    if error is not None:
        values["error"] = error
    row = await connection.execute(update(jobs).where(*conditions).values(**values).returning(*jobs.c))
    return _as_dict(row.first())


async def schedule_retry(
    connection: AsyncConnection,
    job_id: str,
    *,
    now: datetime,
    run_at: datetime,
    error: dict,
    attempt: int | None = None,
) -> dict | None:
    """processing → retrying, to run again at ``run_at``."""
    conditions = [jobs.c.id == job_id, jobs.c.status.in_(sources_for(JobStatus.RETRYING))]
    if attempt is not None:
        conditions.append(jobs.c.attempts == attempt)
    row = await connection.execute(
        update(jobs)
        .where(*conditions)
        .values(
            status=JobStatus.RETRYING.value,
            run_at=run_at,
            error=error,
            lease_expires_at=None,
            enqueued_at=run_at,  # its message is sent now, with a delay, for run_at
            updated_at=now,
        )
        .returning(*jobs.c)
    )
    return _as_dict(row.first())


async def request_cancel(connection: AsyncConnection, job_id: str, *, now: datetime) -> dict | None:
    """Flag a processing job; its worker cancels it at the next progress report or return."""
    row = await connection.execute(
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.status == JobStatus.PROCESSING.value)
        .values(cancel_requested=True, updated_at=now)
        .returning(*jobs.c)
    )
    return _as_dict(row.first())


async def mark_enqueued(connection: AsyncConnection, job_ids: list[str], *, now: datetime) -> None:
    if job_ids:
        await connection.execute(update(jobs).where(jobs.c.id.in_(job_ids)).values(enqueued_at=now))


async def claim_due_for_enqueue(
    connection: AsyncConnection, *, now: datetime, quiet_period: timedelta, limit: int
) -> list[str]:
    """Due pending/retrying jobs with no message sent in ``quiet_period``: their message was
    lost (Redis flushed) or never sent (a crash between commit and send). Marks them sent."""
    statement = (
        select(jobs.c.id)
        .where(
            jobs.c.status.in_((JobStatus.PENDING.value, JobStatus.RETRYING.value)),
            jobs.c.run_at <= now,
            or_(jobs.c.enqueued_at.is_(None), jobs.c.enqueued_at < now - quiet_period),
        )
        .order_by(jobs.c.run_at)
        .limit(limit)
    )
    ids = list((await connection.execute(for_update_skip_locked(connection, statement))).scalars())
    await mark_enqueued(connection, ids, now=now)
    return ids


async def lapsed_leases(connection: AsyncConnection, *, now: datetime, limit: int) -> list[dict]:
    statement = (
        select(jobs)
        .where(jobs.c.status == JobStatus.PROCESSING.value, jobs.c.lease_expires_at < now)
        .order_by(jobs.c.lease_expires_at)
        .limit(limit)
    )
    rows = await connection.execute(for_update_skip_locked(connection, statement))
    return [dict(row._mapping) for row in rows]
