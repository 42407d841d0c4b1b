"""The periodic loop: re-queues lapsed job leases, sends due deliveries and re-sends work whose
message was lost, and purges expired idempotency keys and (retention) old events.

Several schedulers may run; on PostgreSQL a session advisory lock lets one act per tick and the
others idle. Every write is guarded as elsewhere, so even two acting at once would be safe.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import text

from hookrelay.db.repositories import deliveries as deliveries_repo
from hookrelay.db.repositories import endpoints as endpoints_repo
from hookrelay.db.repositories import idempotency as idempotency_repo
from hookrelay.db.repositories import jobs as jobs_repo
from hookrelay.db.repositories import retention as retention_repo
from hookrelay.db.types import utcnow
from hookrelay.domain.breaker import from_columns, should_disable
from hookrelay.domain.jobs import JobStatus
from hookrelay.logging import get_logger
from hookrelay.services import breakers
from hookrelay.services.context import Services
from hookrelay.services.events import Outbox
from hookrelay.services.job_lifecycle import finish_job, worker_lost_error

log = get_logger(__name__)

ADVISORY_LOCK_KEY = 0x686F6F6B  # "hook"
TICK_SECONDS = 1.0
# A due job or delivery whose message was sent this long ago and that has not started is
# re-sent: its message was lost (Redis flushed) or its worker died holding the claim.
RESEND_QUIET_PERIOD = timedelta(seconds=30)
DELIVERY_RESEND_QUIET_PERIOD = timedelta(seconds=10)
# While many deliver messages wait in the broker, a delivery not yet attempted is most likely
# queued behind them rather than lost; re-sending the backlog would only grow the queue.
BUSY_QUEUE_MESSAGES = 200
BUSY_RESEND_QUIET_PERIOD = timedelta(minutes=5)
BATCH = 500
# Retention runs every PURGE_EVERY ticks, at most PURGE_BATCHES batches of PURGE_BATCH events.
PURGE_EVERY = 30
PURGE_BATCH = 200
PURGE_BATCHES = 25


@dataclass
class TickReport:
    requeued_leases: int = 0
    failed_leases: int = 0
    resent: int = 0
    resent_deliveries: int = 0
    disabled_endpoints: int = 0
    purged_keys: int = 0
    purged_events: int = 0
    purged_orphaned_attempts: int = 0


async def run_tick(services: Services, *, purge: bool = True) -> TickReport | None:
    """One pass, if this scheduler wins the lock; None if another scheduler holds it."""
    database = services.database
    if not database.is_postgres:
        return await _do_tick(services, purge=purge)
    async with database.engine.connect() as lock_connection:
        locked = await lock_connection.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
        await lock_connection.commit()
        if not locked:
            return None
        try:
            return await _do_tick(services, purge=purge)
        finally:
            await lock_connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_KEY})
            await lock_connection.commit()


async def purge_expired(services: Services, report: TickReport) -> None:
    """Events (with their deliveries and attempts) older than HOOKRELAY_RETENTION, then attempts
    as old whose delivery is gone (``retention_repo.purge_orphaned_attempts_batch``)."""
    cutoff = utcnow() - services.settings.retention
    report.purged_events += await _purge_in_batches(services, retention_repo.purge_expired_batch, cutoff)
    # While expired events remain (the purge stopped at its cap), most old attempts still have
    # their delivery, and looking each one over would find nothing to sweep.
    if report.purged_events < PURGE_BATCHES * PURGE_BATCH:
        report.purged_orphaned_attempts += await _purge_in_batches(
            services, retention_repo.purge_orphaned_attempts_batch, cutoff
        )
    if report.purged_events or report.purged_orphaned_attempts:
        log.info("retention_purged", events=report.purged_events, orphaned_attempts=report.purged_orphaned_attempts)


async def _purge_in_batches(services: Services, purge_batch, cutoff) -> int:
    """Up to PURGE_BATCHES short transactions of ``purge_batch``; how many rows went."""
    purged_in_all = 0
    for _ in range(PURGE_BATCHES):
        async with services.database.transaction() as connection:
            purged = await purge_batch(connection, older_than=cutoff, batch=PURGE_BATCH)
        purged_in_all += purged
        if purged < PURGE_BATCH:
            break
    return purged_in_all


async def _do_tick(services: Services, *, purge: bool = True) -> TickReport:
    report = TickReport()
    await _recover_lapsed_leases(services, report)
    await _resend_due_jobs(services, report)
    await _send_due_deliveries(services, report)
    await _disable_failing_endpoints(services, report)
    now = utcnow()
    async with services.database.transaction() as connection:
        report.purged_keys = await idempotency_repo.forget_expired(connection, older_than=now - timedelta(hours=24))
    if purge:
        await purge_expired(services, report)
    return report


async def _recover_lapsed_leases(services: Services, report: TickReport) -> None:
    now, outbox = utcnow(), Outbox()
    to_enqueue: list[str] = []
    changed: list[str] = []
    async with services.database.transaction() as connection:
        for row in await jobs_repo.lapsed_leases(connection, now=now, limit=BATCH):
            if row["attempts"] >= row["max_attempts"]:
                done = await finish_job(
                    connection, row["id"], target=JobStatus.FAILED, now=now, attempt=row["attempts"],
                    error={**worker_lost_error(), "retryable": False},
                    outbox=outbox, retry_schedule=services.settings.retry_schedule,
                )
                if done is not None:
                    report.failed_leases += 1
                    changed.append(row["id"])
            else:
                done = await jobs_repo.schedule_retry(
                    connection, row["id"], now=now, run_at=now, error=worker_lost_error(), attempt=row["attempts"]
                )
                if done is not None:
                    report.requeued_leases += 1
                    changed.append(row["id"])
                    to_enqueue.append(row["id"])
    outbox.flush(services)
    for job_id in to_enqueue:
        services.enqueue_job(job_id, 0)
    for job_id in changed:
        await services.notifier.publish(job_id)
    if changed:
        log.warning("job_leases_lapsed", requeued=report.requeued_leases, failed=report.failed_leases)


async def _resend_due_jobs(services: Services, report: TickReport) -> None:
    async with services.database.transaction() as connection:
        ids = await jobs_repo.claim_due_for_enqueue(
            connection, now=utcnow(), quiet_period=RESEND_QUIET_PERIOD, limit=BATCH
        )
    for job_id in ids:
        services.enqueue_job(job_id, 0)
    report.resent = len(ids)
    if ids:
        log.info("jobs_resent", count=len(ids))


async def _send_due_deliveries(services: Services, report: TickReport) -> None:
    """Retries whose time has come (long delays live only in the database), and deliveries whose
    message was lost or whose worker died mid-batch (their claim lapsed)."""
    busy = services.queued_deliveries() >= BUSY_QUEUE_MESSAGES
    quiet_period = BUSY_RESEND_QUIET_PERIOD if busy else DELIVERY_RESEND_QUIET_PERIOD
    while True:
        async with services.database.transaction() as connection:
            ids = await deliveries_repo.claim_due_for_enqueue(
                connection, now=utcnow(), quiet_period=quiet_period, limit=BATCH
            )
        if ids:
            services.enqueue_deliveries(ids)
            report.resent_deliveries += len(ids)
        if len(ids) < BATCH:
            break
    if report.resent_deliveries:
        log.info("deliveries_sent", count=report.resent_deliveries)


async def _disable_failing_endpoints(services: Services, report: TickReport) -> None:
    """Endpoints whose breaker stayed open for HOOKRELAY_DISABLE_AFTER without a success, even
    if no delivery came along to probe them."""
    now, outbox = utcnow(), Outbox()

    async def disable_expired(connection) -> int:
        outbox.delivery_ids.clear()
        disabled = 0
        ids = await endpoints_repo.failing_too_long(connection, opened_before=now - services.settings.disable_after)
        policy = breakers.policy_from(services.settings)
        for endpoint in (await endpoints_repo.lock_endpoints(connection, ids)).values():
            # Looked at again under the lock: a probe may have succeeded since the scan.
            if endpoint["status"] != "enabled" or not should_disable(from_columns(endpoint), policy, now):
                continue
            last_error = (await breakers.health(connection, endpoint, now=now))["last_error"]
            if await breakers.disable_endpoint(
                connection, endpoint, reason="failing", last_error=last_error, now=now,
                settings=services.settings, outbox=outbox,
            ):
                disabled += 1
        return disabled

    report.disabled_endpoints = await services.database.run_transaction(disable_expired)
    outbox.flush(services)
    if report.disabled_endpoints:
        log.warning("endpoints_disabled", count=report.disabled_endpoints, reason="failing")


async def run_forever(services: Services, *, tick_seconds: float = TICK_SECONDS, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    log.info("scheduler_started", tick_seconds=tick_seconds)
    ticks = 0
    while not stop.is_set():
        try:
            await run_tick(services, purge=ticks % PURGE_EVERY == 0)
            ticks += 1
        except Exception as exc:  # the database may be restarting; try again next tick
            log.warning("scheduler_tick_failed", error=str(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), tick_seconds)
