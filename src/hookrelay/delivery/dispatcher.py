"""The delivery pipeline for a batch of delivery ids: claim → prepare → send → record.

    claim     lease the due, unclaimed deliveries (SKIP LOCKED + locked_until), with their
              event body and endpoint in the same round trip
    prepare   sign each request (every valid secret of the endpoint) with this attempt's time
    send      all requests of the batch concurrently over the process's one HTTP pool
    record    one transaction: every attempt row, each delivery's guarded outcome (succeeded,
              retrying at the next scheduled time, or dead with a reason), and for a 410 the
              endpoint disabled with its undelivered deliveries dead-lettered

A retry due soon rides a delayed message; a long one lives only in the database and the
scheduler sends it when due (ARCHITECTURE rule 1).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from hookrelay import __version__
from hookrelay.db.repositories import deliveries as deliveries_repo
from hookrelay.db.repositories import endpoints as endpoints_repo
from hookrelay.db.types import utcnow
from hookrelay.delivery.client import DeliveryClient, SendResult
from hookrelay.delivery.rate_limit import shared_in_process_limiter
from hookrelay.delivery.recent_claims import RecentClaims
from hookrelay.delivery.request import WebhookRequest, build_webhook_request, redacted_headers
from hookrelay.domain.breaker import BreakerState
from hookrelay.domain.ids import new_id
from hookrelay.domain.outcomes import Outcome, classify, parse_retry_after
from hookrelay.domain.retry import Dead, DeadReason, RetryAt, Succeeded, decide
from hookrelay.logging import get_logger
from hookrelay.services import breakers
from hookrelay.services.events import Outbox

log = get_logger("hookrelay.delivery")

# Retries due sooner than this are sent as a delayed message; later ones wait in the database.
SHORT_RETRY = timedelta(minutes=5)
# A message's deliveries are topped up with other due ones to this many per batch.
CLAIM_BATCH = 64
# After a top-up came back short, for this long messages with nothing of their own left skip
# the database, and messages sent before that top-up only look their deliveries up (the top-up
# or another worker took them): enough to spare the database a flood of stale messages, short
# enough that new work queued behind them is still taken within this time by a top-up.
BACKLOG_OVER_FOR = 0.25


@dataclass(frozen=True)
class Prepared:
    row: dict
    number: int
    request: WebhookRequest


@dataclass(frozen=True)
class FollowUp:
    delivery_id: str
    delay_seconds: float


def endpoint_secrets(row: dict, now: datetime) -> list[str]:
    """The current secret, plus the rotated-out one while its grace lasts."""
    secrets = [row["endpoint_secret"]]
    previous, expires = row.get("endpoint_previous_secret"), row.get("endpoint_previous_secret_expires_at")
    if previous and expires and expires > now:
        secrets.append(previous)
    return secrets


def prepare(row: dict, signing_time: datetime | None = None) -> Prepared:
    """Sign this attempt's request: same body bytes and webhook-id, fresh timestamp.
    ``signing_time`` (default: now) decides whether a rotated-out secret still signs; a batch
    reads the clock once for all its requests."""
    number = row["attempts"] + 1
    request = build_webhook_request(
        url=row["endpoint_url"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        event_created_at="",
        data=None,
        delivery_id=row["id"],
        attempt=number,
        secrets=endpoint_secrets(row, signing_time or utcnow()),
        timestamp=int(time.time()),
        custom_headers=row["endpoint_headers"] or None,
        version=__version__,
        body=row["event_body"].encode(),
    )
    return Prepared(row, number, request)


class Dispatcher:
    def __init__(
        self, services, client: DeliveryClient, *, limiter=None, rand: Callable[[], float] = random.random
    ) -> None:
        self.services = services
        self.settings = services.settings
        self.client = client
        self.limiter = limiter or shared_in_process_limiter
        self.rand = rand
        self.recent_claims = RecentClaims()
        # Until when (time.monotonic) to take the backlog as over: see BACKLOG_OVER_FOR.
        self.backlog_over_until = 0.0
        # When (seconds since the epoch) the claim that found the backlog over began: a message
        # sent before it names deliveries that claim would have taken if they were still free.
        self.backlog_seen_over_at = 0.0

    @property
    def lease(self) -> timedelta:
        # Long enough to send and record; a worker killed mid-batch frees its claims after it.
        return self.settings.delivery_timeout + timedelta(seconds=30)

    async def deliver(self, delivery_ids: list[str], *, sent_at: float | None = None) -> int:
        """Attempt every due delivery among ``delivery_ids``, topped up with other due ones;
        returns how many were attempted. ``sent_at`` is when the message asking for them was
        sent: the ones this process has leased and recorded since then need nothing more
        (``recent_claims``). A message left with none still serves to top up, unless a top-up
        came back short a moment ago: then there is no backlog to take from, and it costs no
        database round trip, and a message sent before then is claimed only if a look-up finds
        some of its own deliveries still due and free (``_claimable_among``)."""
        now = utcnow()
        if sent_at is not None:
            delivery_ids = self.recent_claims.not_leased_since(delivery_ids, sent_at)
            if time.monotonic() < self.backlog_over_until:
                if delivery_ids and sent_at < self.backlog_seen_over_at:
                    delivery_ids = await self._claimable_among(delivery_ids, now)
                if not delivery_ids:
                    return 0
        self.backlog_over_until = 0.0  # unknown until this claim says
        claimed, sendable = await self._claim_and_admit(delivery_ids, now)
        self._note_top_up(delivery_ids, claimed, now)
        if not claimed:
            return 0
        stranded = [row for row in claimed if row["endpoint_status"] != "enabled"]
        in_flight, follow_ups = await self._send_within_rate_limits(sendable)
        await self._hold_for_rate(follow_ups)
        prepared = [item for item, _ in in_flight]
        results = await asyncio.gather(*(task for _, task in in_flight))
        follow_ups = follow_ups + await self._record(prepared, results, stranded)
        for follow_up in follow_ups:
            self.services.enqueue_deliveries([follow_up.delivery_id], delay_seconds=follow_up.delay_seconds)
        # Only now: a batch that failed before its outcomes were written leaves its leases to
        # expire, and older messages for those deliveries must then still claim them.
        self.recent_claims.remember((row["id"] for row in claimed), now.timestamp())
        return len(prepared)

    async def _claimable_among(self, delivery_ids: list[str], now: datetime) -> list[str]:
        """For a message sent before a top-up found the backlog over: there is nothing to top up
        with, so it needs the claim only for deliveries of its own that are still due and free.
        After a backlog most queued messages name deliveries other worker processes already
        sent, and a look-up by primary key tells so for a fraction of the claim's cost. Messages
        sent since go straight to the claim: their deliveries are new work. (SQLite,
        ``hookrelay dev``: the claim itself.)"""
        database = self.services.database
        if not database.is_postgres:
            return delivery_ids
        async with database.driver_connection(autocommit=True) as driver:
            return await deliveries_repo.claimable_among_direct(driver, delivery_ids, now=now)

    def _note_top_up(self, delivery_ids: list[str], claimed: list[dict], now: datetime) -> None:
        wanted = CLAIM_BATCH - len(delivery_ids)
        if wanted <= 0:
            return
        asked = set(delivery_ids)
        if sum(1 for row in claimed if row["id"] not in asked) < wanted:
            self.backlog_over_until = time.monotonic() + BACKLOG_OVER_FOR
            self.backlog_seen_over_at = now.timestamp()

    async def _claim_and_admit(self, delivery_ids: list[str], now: datetime) -> tuple[list[dict], list[dict]]:
        """Lease the batch, then let each endpoint's breaker say which to send now; the ones it
        holds go back with their hold time. Returns (claimed, sendable)."""
        database = self.services.database

        async def admit(connection, enabled: list[dict]) -> list[dict]:
            sendable, held = await breakers.admit_claimed(connection, enabled, now=now, probe_lease=self.lease)
            for until, ids in held.items():
                await deliveries_repo.hold(connection, ids, until=until, now=now, enqueued=False)
            return sendable

        if not database.is_postgres:
            async def claim_and_admit(connection) -> tuple[list[dict], list[dict]]:
                claimed = await deliveries_repo.claim(
                    connection, delivery_ids, now=now, lease=self.lease, fill_to=CLAIM_BATCH
                )
                return claimed, await admit(connection, [row for row in claimed if row["endpoint_status"] == "enabled"])

            return await database.run_transaction(claim_and_admit)
        # PostgreSQL: the lease is one statement by psycopg itself (most messages of a backlog
        # find their deliveries already taken, and must cost little to say so). The leased rows
        # are ours until the lease ends, so the breakers can look at them in a second step,
        # which only happens when the claim saw a breaker that is not closed.
        async with database.driver_connection(autocommit=True) as driver:
            claimed = await deliveries_repo.claim_direct(
                driver, delivery_ids, now=now, lease=self.lease, fill_to=CLAIM_BATCH
            )
        enabled = [row for row in claimed if row["endpoint_status"] == "enabled"]
        if all(row["endpoint_breaker_state"] == BreakerState.CLOSED for row in enabled):
            return claimed, enabled
        return claimed, await database.run_transaction(lambda connection: admit(connection, enabled))

    async def _send_within_rate_limits(self, rows: list[dict]) -> tuple[list, list[FollowUp]]:
        """Start sending each row its endpoint's rate limit lets go now, the moment it is
        granted (so requests keep the spacing of their grants); the others wait, spending no
        attempt, and come back when their endpoint has room."""
        in_flight, waiting = [], []
        signing_time = utcnow()
        for row in rows:
            rate = row["endpoint_rate_limit"]
            wait = await self.limiter.acquire(row["endpoint_id"], rate) if rate else 0.0
            if wait <= 0:
                item = prepare(row, signing_time)
                in_flight.append((item, asyncio.ensure_future(self.client.send(item.request))))
            else:
                # A little spread, so that many waiting deliveries do not all ask again at once.
                waiting.append(FollowUp(row["id"], wait * (1 + 0.5 * self.rand())))
        return in_flight, waiting

    async def _hold_for_rate(self, waiting: list[FollowUp]) -> None:
        if not waiting:
            return
        now = utcnow()
        async with self.services.database.transaction() as connection:
            for follow_up in waiting:
                until = now + timedelta(seconds=follow_up.delay_seconds)
                await deliveries_repo.hold(connection, [follow_up.delivery_id], until=until, now=now, enqueued=True)

    async def _record(
        self, prepared: list[Prepared], results: list[SendResult], stranded: list[dict]
    ) -> list[FollowUp]:
        now = utcnow()
        attempt_rows, follow_ups, gone_endpoints = [], [], {}
        updates: list[tuple[dict, dict]] = []
        health: list[tuple[dict, bool | None, str | None]] = []
        # Asked once per batch: building a success's line only for the level to drop it cost
        # about 4% of a worker's CPU in a drain, and asking for each one about 2% (py-spy).
        log_successes = log.is_enabled_for(logging.DEBUG)
        for item, result in zip(prepared, results, strict=True):
            outcome = classify(result.attempt_result, retry_4xx=self.settings.retry_4xx)
            # Retry-After matters only to a retry.
            retry_after = (
                parse_retry_after(result.headers.get("retry-after"), now)
                if outcome is Outcome.RETRY and result.status else None
            )
            # A replayed or recovered delivery runs through the schedule again from its start.
            decision = decide(
                item.number - item.row["retry_base"], outcome, schedule=self.settings.retry_schedule, now=now,
                retry_after=retry_after, rand=self.rand,
            )
            error = error_text(result)
            # Retryable failures count against the endpoint's breaker; a rejection says the
            # receiver is up, so it neither opens nor closes it.
            speaks_to_health = outcome in (Outcome.SUCCESS, Outcome.RETRY)
            health.append((item.row, outcome is Outcome.SUCCESS if speaks_to_health else None, error))
            attempt_rows.append(
                attempt_row(item, result, item.row["next_trigger"], now, success=isinstance(decision, Succeeded))
            )
            values = {
                "attempts": item.number,
                "last_attempt_at": now,
                "last_response_status": result.status,
                "last_error": error,
                "locked_until": None,
                "next_trigger": "scheduled",
                "updated_at": now,
                "enqueued_at": None,
                "dead_reason": None,
            }
            if isinstance(decision, Succeeded):
                values.update(status="succeeded", next_attempt_at=None)
            elif isinstance(decision, RetryAt):
                soon = decision.when - now <= SHORT_RETRY
                values.update(status="retrying", next_attempt_at=decision.when, enqueued_at=decision.when if soon else None)
                if soon:
                    follow_ups.append(FollowUp(item.row["id"], max(0.0, (decision.when - now).total_seconds())))
            elif isinstance(decision, Dead):
                values.update(status="dead", dead_reason=str(decision.reason), next_attempt_at=None)
                if decision.reason == DeadReason.GONE:
                    gone_endpoints[item.row["endpoint_id"]] = error
            updates.append((item.row, values))
            if log_successes or not isinstance(decision, Succeeded):
                _log_attempt(item, result, decision)
        outbox = Outbox()
        outcomes = [
            {"delivery_id": row["id"], "expected_attempts": row["attempts"], **values} for row, values in updates
        ]

        async def record(connection) -> None:
            outbox.delivery_ids.clear()
            await deliveries_repo.record_attempts(connection, attempt_rows)
            applied = await deliveries_repo.finish_attempts(connection, outcomes)
            if applied < len(outcomes):
                log.warning("delivery_outcomes_discarded", count=len(outcomes) - applied)
            for row in stranded:
                await deliveries_repo.finish_attempt(
                    connection, row["id"], expected_attempts=row["attempts"],
                    values={"status": "dead", "dead_reason": "endpoint_disabled", "next_attempt_at": None,
                            "locked_until": None, "updated_at": now},
                )
            await breakers.record_results(connection, health, settings=self.settings, now=now, outbox=outbox)
            for endpoint_id, error in gone_endpoints.items():
                endpoint = await endpoints_repo.get_endpoint(connection, endpoint_id)
                if endpoint is not None:
                    await breakers.disable_endpoint(
                        connection, endpoint, reason="gone", last_error=error, now=now, settings=self.settings,
                        outbox=outbox,
                    )

        database = self.services.database
        if database.is_postgres and not stranded and not gone_endpoints and not breakers.results_to_record(health):
            # The common case: attempts and outcomes only, by psycopg itself in one statement.
            async def write() -> int:
                async with database.driver_connection(autocommit=True) as driver:
                    return await deliveries_repo.record_outcomes_direct(driver, attempt_rows, outcomes)

            applied = await database.retry_on_deadlock(write)
            if applied < len(outcomes):
                log.warning("delivery_outcomes_discarded", count=len(outcomes) - applied)
            return follow_ups
        await database.run_transaction(record)
        outbox.flush(self.services)
        return follow_ups


def error_text(result: SendResult) -> str | None:
    if result.error is not None:
        return f"{result.error}: {result.error_message}" if result.error_message else str(result.error)
    if result.status is not None and not 200 <= result.status < 300:
        return f"HTTP {result.status}"
    return None


def attempt_row(item: Prepared, result: SendResult, trigger: str, finished: datetime, *, success: bool) -> dict:
    duration = result.duration_ms
    return {
        "id": new_id("att"),
        "delivery_id": item.row["id"],
        "app_id": item.row["app_id"],
        "number": item.number,
        "trigger": trigger,
        "started_at": finished - timedelta(milliseconds=duration),
        "duration_ms": round(duration, 2),
        "request_url": item.request.url,
        "request_headers": redacted_headers(item.request.headers),
        "response_status": result.status,
        "response_headers": result.headers if result.status is not None else None,
        "response_body": result.body if result.status is not None else None,
        "error": error_text(result) if result.error is not None else None,
        "outcome": "success" if success else "failure",
    }


def _log_attempt(item: Prepared, result: SendResult, decision) -> None:
    """A line per failed attempt; successes only at debug level (the caller asks). The attempts
    table already records every attempt (the delivery log), and a line per success cost about
    a tenth of a worker's CPU when draining a backlog."""
    write = log.debug if isinstance(decision, Succeeded) else log.info
    write(
        "delivery_attempt",
        delivery_id=item.row["id"],
        event_id=item.row["event_id"],
        endpoint_id=item.row["endpoint_id"],
        attempt=item.number,
        status=result.status,
        error=str(result.error) if result.error else None,
        duration_ms=round(result.duration_ms, 2),
        decision=type(decision).__name__.lower(),
    )
