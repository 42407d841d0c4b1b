"""Circuit breakers in the database: admitting claimed deliveries, recording attempt results,
disabling endpoints that stay down, and the health view.

The state machine is pure (domain/breaker.py); here it is read and written under a row lock on
the endpoint, so every worker and scheduler shares one breaker per endpoint. The hot path pays
nothing while a breaker is closed and healthy: no lock is taken unless the claim saw a
non-closed breaker or a batch brought a failure or a first success after failures.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from hookrelay.db.repositories import deliveries as deliveries_repo
from hookrelay.db.repositories import endpoints as endpoints_repo
from hookrelay.domain.breaker import (
    Admission,
    BreakerPolicy,
    BreakerState,
    admit,
    from_columns,
    hold_until,
    on_failure,
    on_success,
    reset,
    should_disable,
    to_columns,
)
from hookrelay.domain.timestamps import format_timestamp
from hookrelay.services.events import Outbox, record_event

DISABLED_EVENT = "endpoint.disabled"


def policy_from(settings) -> BreakerPolicy:
    return BreakerPolicy(
        threshold=settings.breaker_threshold, cooldown=settings.breaker_cooldown, disable_after=settings.disable_after
    )


async def admit_claimed(
    connection: AsyncConnection, rows: list[dict], *, now: datetime, probe_lease: timedelta
) -> tuple[list[dict], dict[datetime, list[str]]]:
    """Split claimed deliveries into those to send now and those held, by the time they are
    held until. Only endpoints whose breaker the claim saw as not closed are locked."""
    to_send = [row for row in rows if row["endpoint_breaker_state"] == BreakerState.CLOSED]
    guarded = defaultdict(list)
    for row in rows:
        if row["endpoint_breaker_state"] != BreakerState.CLOSED:
            guarded[row["endpoint_id"]].append(row)
    held: dict[datetime, list[str]] = defaultdict(list)
    if not guarded:
        return to_send, held
    current = await endpoints_repo.lock_endpoints(connection, list(guarded))
    for endpoint_id, group in guarded.items():
        breaker = from_columns(current[endpoint_id])
        before = breaker
        for row in sorted(group, key=lambda r: r["id"]):  # the oldest is the probe
            admission, breaker = admit(breaker, now, row["id"], probe_lease)
            if admission is Admission.HOLD:
                held[hold_until(breaker) or now].append(row["id"])
            else:
                to_send.append(row)
        if breaker != before:
            await endpoints_repo.save_breaker(connection, endpoint_id, to_columns(breaker))
    return to_send, held


def results_to_record(
    outcomes: list[tuple[dict, bool | None, str | None]],
) -> dict[str, list[tuple[dict, bool, str | None]]]:
    """The results that can change a breaker, by endpoint; empty when ``record_results`` would
    write nothing (the common case: a healthy closed breaker and only successes)."""
    by_endpoint: dict[str, list[tuple[dict, bool, str | None]]] = defaultdict(list)
    for row, succeeded, error in outcomes:
        if succeeded is None:
            continue
        if succeeded and row["endpoint_breaker_state"] == BreakerState.CLOSED and not row.get("endpoint_breaker_failures"):
            continue
        by_endpoint[row["endpoint_id"]].append((row, succeeded, error))
    return by_endpoint


async def record_results(
    connection: AsyncConnection,
    outcomes: list[tuple[dict, bool | None, str | None]],
    *,
    settings,
    now: datetime,
    outbox: Outbox,
) -> None:
    """Feed attempt results to their endpoints' breakers. ``outcomes`` holds (row, succeeded,
    error) with succeeded None for results that say nothing about the endpoint's health."""
    by_endpoint = results_to_record(outcomes)
    if not by_endpoint:
        return
    policy = policy_from(settings)
    current = await endpoints_repo.lock_endpoints(connection, list(by_endpoint))
    for endpoint_id, results in by_endpoint.items():
        endpoint = current.get(endpoint_id)
        if endpoint is None or endpoint["status"] != "enabled":
            continue
        breaker = before = from_columns(endpoint)
        last_error = None
        for row, succeeded, error in results:
            if succeeded:
                breaker = on_success(breaker, now)
            else:
                breaker = on_failure(breaker, policy, now, delivery_id=row["id"])
                last_error = error
        if breaker == before:
            continue
        extra = {"last_success_at": now} if any(s for _, s, _ in results) else {}
        await endpoints_repo.save_breaker(connection, endpoint_id, to_columns(breaker), **extra)
        if before.state is not BreakerState.CLOSED and breaker.state is BreakerState.CLOSED:
            await endpoints_repo.release_held(connection, endpoint_id, now=now)
        if should_disable(breaker, policy, now):
            await disable_endpoint(
                connection, endpoint, reason="failing", last_error=last_error, now=now, settings=settings, outbox=outbox
            )


async def disable_endpoint(
    connection: AsyncConnection, endpoint: dict, *, reason: str, last_error: str | None, now: datetime, settings,
    outbox: Outbox,
) -> bool:
    """Disable the endpoint, dead-letter its undelivered deliveries, and tell its application
    with an ``endpoint.disabled`` event. False if it was already disabled."""
    disabled = await endpoints_repo.disable_endpoint(connection, endpoint["id"], reason=reason, now=now)
    if disabled is None:
        return False
    await deliveries_repo.dead_letter_undelivered_for_endpoint(
        connection, endpoint["id"], reason="endpoint_disabled", now=now
    )
    # Imported here because services.endpoints imports this module (for the health view).
    from hookrelay.services.endpoints import endpoint_resource

    await record_event(
        connection, app_id=endpoint["app_id"], event_type=DISABLED_EVENT,
        data={"endpoint": endpoint_resource(disabled), "reason": reason, "last_error": last_error},
        now=now, retry_schedule=settings.retry_schedule, outbox=outbox,
    )
    return True


def reset_columns() -> dict:
    return to_columns(reset())


async def health(connection: AsyncConnection, endpoint: dict, *, now: datetime) -> dict:
    breaker = from_columns(endpoint)
    stats = await deliveries_repo.endpoint_health(connection, endpoint["id"], since=now - timedelta(hours=24))
    latest = stats["latest"]
    last_error = None
    if latest is not None and latest["outcome"] != "success":
        last_error = latest["error"] or (f"HTTP {latest['response_status']}" if latest["response_status"] else None)
    return {
        "breaker": breaker.state.value,
        "consecutive_failures": breaker.consecutive_failures,
        "opened_at": format_timestamp(breaker.opened_at),
        "retry_at": format_timestamp(breaker.retry_at),
        "success_rate_24h": round(stats["successes"] / stats["attempts"], 4) if stats["attempts"] else None,
        "last_attempt_at": format_timestamp(latest["started_at"]) if latest else None,
        "last_error": last_error,
        "status": endpoint["status"],
        "disabled_reason": endpoint["disabled_reason"],
    }
