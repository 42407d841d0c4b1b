"""Runs one job attempt: claim, heartbeat, call the handler, record the outcome.

The claim and every later write are guarded by the attempt number, so an attempt whose lease
lapsed (and whose job was re-claimed elsewhere) can no longer change the job: its writes match
zero rows and it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import msgspec
import structlog

from hookrelay.db.repositories import jobs as jobs_repo
from hookrelay.db.types import utcnow
from hookrelay.domain.jobs import JobStatus, retry_backoff
from hookrelay.jobs.registry import JobError, get_job_type
from hookrelay.logging import get_logger
from hookrelay.services.context import Services
from hookrelay.services.events import Outbox
from hookrelay.services.job_lifecycle import finish_job

log = get_logger(__name__)

HEARTBEAT_CAP = timedelta(seconds=5)


class LeaseLost(Exception):
    """This attempt no longer holds the job; stop without writing anything."""


class CancelRequested(Exception):
    """The job's owner asked to cancel it."""


class RunningJob:
    """The ``ctx`` a handler receives."""

    def __init__(self, services: Services, job_id: str, attempt: int) -> None:
        self.services = services
        self.job_id = job_id
        self.attempt = attempt
        self.cancel_requested = False

    async def progress(self, percent: int, step: str | None = None) -> None:
        percent = max(0, min(100, int(percent)))
        async with self.services.database.transaction() as connection:
            row = await jobs_repo.record_progress(
                connection,
                self.job_id,
                attempt=self.attempt,
                progress=percent,
                step=step[:200] if step else None,
                now=utcnow(),
                lease=self.services.settings.job_lease,
            )
            if row is None:
                cancel = await jobs_repo.renew_lease(
                    connection, self.job_id, attempt=self.attempt, now=utcnow(), lease=self.services.settings.job_lease
                )
        if row is None:
            if cancel:
                self.cancel_requested = True
                raise CancelRequested()
            raise LeaseLost()
        await self.services.notifier.publish(self.job_id)


async def execute_job(services: Services, job_id: str) -> None:
    settings = services.settings
    async with services.database.transaction() as connection:
        row = await jobs_repo.claim(connection, job_id, now=utcnow(), lease=settings.job_lease)
    if row is None:
        log.debug("job_not_claimed", job_id=job_id)
        return
    await services.notifier.publish(job_id)
    with structlog.contextvars.bound_contextvars(job_id=job_id, job_type=row["type"], attempt=row["attempts"]):
        log.info("job_started")
        try:
            await _run_attempt(services, row)
        except LeaseLost:
            log.warning("job_lease_lost")


async def _run_attempt(services: Services, row: dict) -> None:
    job_id, attempt = row["id"], row["attempts"]
    job_type = get_job_type(row["type"])
    if job_type is None:
        error = JobError("unknown_job_type", f"no handler for {row['type']!r} in this worker")
        await _record_failure(services, row, error)
        return
    context = RunningJob(services, job_id, attempt)
    handler = asyncio.ensure_future(job_type.handler(row["input"], context))
    heartbeat = asyncio.ensure_future(_heartbeat(services, context, handler))
    try:
        result = await asyncio.wait_for(handler, row["timeout_seconds"])
        msgspec.json.encode(result)  # refuse a result that cannot be stored as JSON
    except CancelRequested:
        await _record_cancel(services, row)
        return
    except asyncio.CancelledError:
        if not context.cancel_requested:
            raise  # the worker is shutting down; the lease will lapse and the job re-run
        await _record_cancel(services, row)
        return
    except LeaseLost:
        raise
    except JobError as error:
        await _record_failure(services, row, error)
        return
    except TimeoutError:
        limit = row["timeout_seconds"]
        await _record_failure(services, row, JobError("timeout", f"the handler ran over its {limit:g}s limit", retryable=True))
        return
    except (TypeError, msgspec.EncodeError) as exc:
        await _record_failure(services, row, JobError("invalid_result", f"the result is not JSON: {exc}"))
        return
    except Exception as exc:
        log.exception("job_handler_crashed")
        await _record_failure(services, row, JobError("handler_error", f"{type(exc).__name__}: {exc}", retryable=True))
        return
    finally:
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat
    await _record_success(services, row, result)


async def _heartbeat(services: Services, context: RunningJob, handler: asyncio.Future) -> None:
    lease = services.settings.job_lease
    interval = min(lease / 3, HEARTBEAT_CAP).total_seconds()
    while True:
        await asyncio.sleep(interval)
        try:
            async with services.database.transaction() as connection:
                cancel = await jobs_repo.renew_lease(
                    connection, context.job_id, attempt=context.attempt, now=utcnow(), lease=lease
                )
        except Exception as exc:  # a missed beat is survivable; the lease is three beats long
            log.warning("job_heartbeat_failed", error=str(exc))
            continue
        if cancel is None or cancel:
            # Lost the job, or its owner cancelled it: stop the handler either way.
            context.cancel_requested = bool(cancel)
            handler.cancel()
            return


def _fan_out(services: Services, outbox: Outbox) -> dict:
    """Arguments that make a terminal change fan its event out, sent after commit."""
    return {"outbox": outbox, "retry_schedule": services.settings.retry_schedule}


async def _record_success(services: Services, row: dict, result: object) -> None:
    now, outbox = utcnow(), Outbox()
    async with services.database.transaction() as connection:
        done = await finish_job(
            connection, row["id"], target=JobStatus.COMPLETED, now=now, attempt=row["attempts"],
            result=result, require_cancel_requested=False, **_fan_out(services, outbox),
        )
        if done is None:
            done = await finish_job(
                connection, row["id"], target=JobStatus.CANCELLED, now=now, attempt=row["attempts"],
                require_cancel_requested=True, **_fan_out(services, outbox),
            )
    outbox.flush(services)
    await _announce(services, row["id"], done, "job_completed")


async def _record_cancel(services: Services, row: dict) -> None:
    outbox = Outbox()
    async with services.database.transaction() as connection:
        done = await finish_job(
            connection, row["id"], target=JobStatus.CANCELLED, now=utcnow(), attempt=row["attempts"],
            **_fan_out(services, outbox),
        )
    outbox.flush(services)
    await _announce(services, row["id"], done, "job_cancelled")


async def _record_failure(services: Services, row: dict, error: JobError) -> None:
    now, outbox = utcnow(), Outbox()
    attempt = row["attempts"]
    retry = error.retryable and attempt < row["max_attempts"]
    async with services.database.transaction() as connection:
        done = await finish_job(
            connection, row["id"], target=JobStatus.CANCELLED, now=now, attempt=attempt,
            require_cancel_requested=True, **_fan_out(services, outbox),
        )
        if done is not None:
            outcome = "job_cancelled"
        elif retry:
            job_type = get_job_type(row["type"])
            base = job_type.backoff_base if job_type else timedelta(seconds=1)
            delay = retry_backoff(attempt, base=base)
            done = await jobs_repo.schedule_retry(
                connection, row["id"], now=now, run_at=now + delay, error=error.as_dict(), attempt=attempt
            )
            outcome = "job_retrying"
        else:
            done = await finish_job(
                connection, row["id"], target=JobStatus.FAILED, now=now, attempt=attempt, error=error.as_dict(),
                **_fan_out(services, outbox),
            )
            outcome = "job_failed"
    outbox.flush(services)
    if done is not None and outcome == "job_retrying":
        services.enqueue_job(row["id"], (done["run_at"] - now).total_seconds())
    await _announce(services, row["id"], done, outcome, error_code=error.code)


async def _announce(services: Services, job_id: str, row: dict | None, outcome: str, **fields) -> None:
    if row is None:
        log.warning("job_outcome_discarded", outcome=outcome, reason="another writer moved the job first")
        return
    log.info(outcome, status=row["status"], **fields)
    await services.notifier.publish(job_id)
