"""Job status changes made by workers, the scheduler and cancel requests.

Each terminal change writes its ``job.*`` event in the same transaction (the outbox), and each
change is announced to long polls and SSE streams after the commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from hookrelay.db.repositories import jobs as jobs_repo
from hookrelay.domain.jobs import EVENT_TYPE_FOR_STATUS, JobStatus
from hookrelay.domain.timestamps import format_timestamp
from hookrelay.services.events import IMMEDIATE, Outbox, record_event


def job_resource(row: dict) -> dict:
    """The job as the API shows it (SPEC §4)."""
    return {
        "id": row["id"],
        "type": row["type"],
        "status": row["status"],
        "progress": row["progress"],
        "step": row["step"],
        "result": row["result"],
        "error": row["error"],
        "attempts": row["attempts"],
        "max_attempts": row["max_attempts"],
        "input": row["input"],
        "metadata": row["metadata"],
        "cancel_requested": bool(row["cancel_requested"]),
        "created_at": format_timestamp(row["created_at"]),
        "started_at": format_timestamp(row["started_at"]),
        "finished_at": format_timestamp(row["finished_at"]),
        "updated_at": format_timestamp(row["updated_at"]),
    }


async def finish_job(
    connection: AsyncConnection,
    job_id: str,
    *,
    target: JobStatus,
    now: datetime,
    attempt: int | None = None,
    result: object = None,
    error: dict | None = None,
    require_cancel_requested: bool | None = None,
    outbox: Outbox | None = None,
    retry_schedule: Sequence[timedelta] = IMMEDIATE,
) -> dict | None:
    """Guarded move to a terminal status plus its event and deliveries; None if another writer
    won. Pass an ``outbox`` and flush it after commit to send the deliveries at once."""
    row = await jobs_repo.finish(
        connection,
        job_id,
        target=target,
        now=now,
        attempt=attempt,
        result=result,
        error=error,
        require_cancel_requested=require_cancel_requested,
    )
    if row is not None:
        await record_event(
            connection,
            app_id=row["app_id"],
            event_type=EVENT_TYPE_FOR_STATUS[target],
            data=job_resource(row),
            now=now,
            source_job_id=job_id,
            outbox=outbox,
            retry_schedule=retry_schedule,
        )
    return row


def worker_lost_error() -> dict:
    return {
        "code": "worker_lost",
        "message": "the worker running this job stopped heartbeating",
        "retryable": True,
        "failed_step": None,
    }
