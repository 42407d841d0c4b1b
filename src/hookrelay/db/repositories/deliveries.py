"""SQL for deliveries and attempts: fan-out inserts, claims with leases, guarded outcomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache

import msgspec
from psycopg.rows import dict_row
from psycopg.types.json import set_json_loads
from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from hookrelay.db import direct
from hookrelay.db.models import Attempt, Delivery, Endpoint, Event
from hookrelay.db.models.deliveries import UNDELIVERED
from hookrelay.db.repositories._dialect import for_update_skip_locked

deliveries = Delivery.__table__
attempts = Attempt.__table__
endpoints = Endpoint.__table__
events = Event.__table__


async def insert_deliveries(connection: AsyncConnection, rows: list[dict]) -> None:
    if rows:
        await connection.execute(insert(deliveries), rows)


async def get_delivery(connection: AsyncConnection, delivery_id: str, *, app_id: str | None = None) -> dict | None:
    statement = select(deliveries).where(deliveries.c.id == delivery_id)
    if app_id is not None:
        statement = statement.where(deliveries.c.app_id == app_id)
    row = (await connection.execute(statement)).first()
    return dict(row._mapping) if row else None


async def deliveries_for_events(connection: AsyncConnection, event_ids: list[str]) -> list[dict]:
    if not event_ids:
        return []
    rows = await connection.execute(
        select(deliveries).where(deliveries.c.event_id.in_(event_ids)).order_by(deliveries.c.id)
    )
    return [dict(row._mapping) for row in rows]


def _claimable(now: datetime):
    return and_(
        deliveries.c.status.in_(UNDELIVERED),
        deliveries.c.next_attempt_at <= now,
        or_(deliveries.c.locked_until.is_(None), deliveries.c.locked_until < now),
    )


async def claim(
    connection: AsyncConnection, delivery_ids: list[str], *, now: datetime, lease: timedelta, fill_to: int = 0
) -> list[dict]:
    """Lease the given deliveries that are due and unclaimed and, up to ``fill_to`` in all, any
    other due ones (oldest due first), so that a backlog drains in large batches whatever the
    messages say. Returns what is needed to send them."""
    locked = (
        select(deliveries.c.id)
        .where(deliveries.c.id.in_(delivery_ids), _claimable(now))
        .order_by(deliveries.c.id)
    )
    ids = list((await connection.execute(for_update_skip_locked(connection, locked))).scalars()) if delivery_ids else []
    if fill_to > len(ids):
        more = (
            select(deliveries.c.id)
            .where(_claimable(now), deliveries.c.id.not_in(ids) if ids else True)
            .order_by(deliveries.c.next_attempt_at)
            .limit(fill_to - len(ids))
        )
        ids += list((await connection.execute(for_update_skip_locked(connection, more))).scalars())
    if not ids:
        return []
    await connection.execute(
        update(deliveries).where(deliveries.c.id.in_(ids)).values(locked_until=now + lease)
    )
    return await sendable_rows(connection, ids)


async def sendable_rows(connection: AsyncConnection, ids: list[str]) -> list[dict]:
    """Deliveries with what sending needs: the event's body and the endpoint's URL, headers,
    status and secrets, in one round trip."""
    rows = await connection.execute(
        select(
            deliveries,
            events.c.body.label("event_body"),
            events.c.created_at.label("event_created_at"),
            endpoints.c.url.label("endpoint_url"),
            endpoints.c.headers.label("endpoint_headers"),
            endpoints.c.status.label("endpoint_status"),
            endpoints.c.secret.label("endpoint_secret"),
            endpoints.c.previous_secret.label("endpoint_previous_secret"),
            endpoints.c.previous_secret_expires_at.label("endpoint_previous_secret_expires_at"),
            endpoints.c.rate_limit.label("endpoint_rate_limit"),
            endpoints.c.breaker_state.label("endpoint_breaker_state"),
            endpoints.c.breaker_failures.label("endpoint_breaker_failures"),
        )
        .join(events, events.c.id == deliveries.c.event_id)
        .join(endpoints, endpoints.c.id == deliveries.c.endpoint_id)
        .where(deliveries.c.id.in_(ids))
    )
    return [dict(row._mapping) for row in rows]


# ``claim`` as one statement for psycopg (``hookrelay.db.direct``), for the workers' hot path:
# the same leases as ``claim`` + ``sendable_rows`` in one round trip, with only the columns that
# sending and recording read (the delivery's other columns, timestamps mostly, cost PostgreSQL
# to format and psycopg to parse for every row: 3-6% of a worker's CPU in a drain).
# Due and not leased, as the claims and the look-up below say it (``_claimable`` for SQLAlchemy).
_DUE_AND_FREE_SQL = (
    f"status IN ({', '.join(repr(status) for status in UNDELIVERED)}) AND next_attempt_at <= %(now)s"
    " AND (locked_until IS NULL OR locked_until < %(now)s)"
)
CLAIM_SQL = f"""
WITH own AS (
    SELECT id FROM deliveries
    WHERE id = ANY(string_to_array(%(ids)s, ',')) AND {_DUE_AND_FREE_SQL}
    ORDER BY id
    FOR UPDATE SKIP LOCKED
), more AS (
    SELECT id FROM deliveries
    WHERE {_DUE_AND_FREE_SQL}
      AND NOT (id = ANY(string_to_array(%(ids)s, ',')))
    ORDER BY next_attempt_at
    LIMIT %(fill)s
    FOR UPDATE SKIP LOCKED
), leased AS (
    UPDATE deliveries SET locked_until = %(until)s
    WHERE id IN (SELECT id FROM own UNION ALL SELECT id FROM more)
    RETURNING deliveries.id, deliveries.app_id, deliveries.event_id, deliveries.endpoint_id, deliveries.event_type,
              deliveries.attempts, deliveries.retry_base, deliveries.next_trigger
)
SELECT leased.*,
       events.body AS event_body,
       endpoints.url AS endpoint_url, endpoints.headers AS endpoint_headers,
       endpoints.status AS endpoint_status, endpoints.secret AS endpoint_secret,
       endpoints.previous_secret AS endpoint_previous_secret,
       endpoints.previous_secret_expires_at AS endpoint_previous_secret_expires_at,
       endpoints.rate_limit AS endpoint_rate_limit, endpoints.breaker_state AS endpoint_breaker_state,
       endpoints.breaker_failures AS endpoint_breaker_failures
FROM leased
JOIN events ON events.id = leased.event_id
JOIN endpoints ON endpoints.id = leased.endpoint_id
ORDER BY leased.id
"""


# Which of these deliveries a claim could take now, without taking them: a plain look-up by
# primary key, a fraction of the claim's cost (the claim is planned anew on every call).
CLAIMABLE_AMONG_SQL = f"""
SELECT id FROM deliveries
WHERE id = ANY(string_to_array(%(ids)s, ',')) AND {_DUE_AND_FREE_SQL}
"""


async def claimable_among_direct(driver_connection, delivery_ids: list[str], *, now: datetime) -> list[str]:
    """The ids among ``delivery_ids`` that are due and not leased (PostgreSQL, psycopg itself);
    a hint only: the claim decides, under its row locks."""
    cursor = await driver_connection.execute(CLAIMABLE_AMONG_SQL, {"ids": ",".join(delivery_ids), "now": now})
    return [row[0] for row in await cursor.fetchall()]


async def claim_direct(
    driver_connection, delivery_ids: list[str], *, now: datetime, lease: timedelta, fill_to: int = 0
) -> list[dict]:
    """``claim`` on PostgreSQL by psycopg itself, in autocommit: the one statement is atomic.
    The ids travel as one comma-separated string: psycopg adapting a list costs a visible part
    of a worker's CPU when each message carries a single id."""
    async with driver_connection.cursor(row_factory=dict_row) as cursor:
        # Every claimed row carries its endpoint's custom headers (jsonb, a flat object of
        # strings); the standard library's json.loads of them was about 2% of a worker's CPU.
        set_json_loads(msgspec.json.decode, cursor)
        await cursor.execute(CLAIM_SQL, {
            "ids": ",".join(delivery_ids), "now": now, "until": now + lease,
            "fill": max(0, fill_to - len(delivery_ids)),
        })
        rows = await cursor.fetchall()
    if driver_connection.info.timezone is UTC:  # hookrelay's own sessions (``db.engine``)
        return rows
    return [as_utc(row) for row in rows]


def as_utc(row: dict) -> dict:
    """Timestamps in UTC, as the SQLAlchemy column type returns them (psycopg gives them in the
    session's time zone, which hookrelay's engine sets to UTC)."""
    return {key: value.astimezone(UTC) if isinstance(value, datetime) else value for key, value in row.items()}


async def claim_due_for_enqueue(
    connection: AsyncConnection, *, now: datetime, quiet_period: timedelta, limit: int
) -> list[str]:
    """Due, unclaimed deliveries with no message sent in ``quiet_period`` (lost with a flushed
    Redis, never sent after a crash, or a long retry delay that lives only in the database)."""
    statement = (
        select(deliveries.c.id)
        .where(
            _claimable(now),
            or_(deliveries.c.enqueued_at.is_(None), deliveries.c.enqueued_at < now - quiet_period),
        )
        .order_by(deliveries.c.next_attempt_at)
        .limit(limit)
    )
    ids = list((await connection.execute(for_update_skip_locked(connection, statement))).scalars())
    if ids:
        await connection.execute(update(deliveries).where(deliveries.c.id.in_(ids)).values(enqueued_at=now))
    return ids


async def record_attempts(connection: AsyncConnection, rows: list[dict]) -> None:
    if rows:
        await connection.execute(insert(attempts), rows)


OUTCOME_COLUMNS = (
    "status", "attempts", "next_attempt_at", "enqueued_at", "dead_reason", "last_attempt_at",
    "last_response_status", "last_error", "locked_until", "next_trigger", "updated_at",
)


async def finish_attempts(connection: AsyncConnection, outcomes: list[dict]) -> int:
    """Apply many attempts' outcomes in one executemany. Each dict has ``delivery_id``,
    ``expected_attempts`` and every OUTCOME_COLUMNS value; each update is guarded as in
    :func:`finish_attempt`. Returns how many applied."""
    if not outcomes:
        return 0
    statement = (
        update(deliveries)
        .where(
            deliveries.c.id == bindparam("delivery_id"),
            # Spelled out: executemany cannot expand an IN list.
            or_(*(deliveries.c.status == status for status in UNDELIVERED)),
            deliveries.c.attempts == bindparam("expected_attempts"),
        )
        .values({column: bindparam(f"new_{column}") for column in OUTCOME_COLUMNS})
    )
    rows = [
        {"delivery_id": o["delivery_id"], "expected_attempts": o["expected_attempts"],
         **{f"new_{column}": o[column] for column in OUTCOME_COLUMNS}}
        for o in outcomes
    ]
    result = await connection.execute(statement, rows)
    return result.rowcount


@lru_cache(maxsize=8)
def record_outcomes_statement(attempt_columns: tuple[str, ...]) -> str:
    """One statement for ``record_attempts`` + ``finish_attempts``: the attempt rows and the
    guarded outcome updates, each batch one JSON parameter (``hookrelay.db.direct``); it
    returns how many outcomes applied. The guard is :func:`finish_attempt`'s: still
    undelivered, and no attempt recorded since."""
    dialect = postgresql.dialect()
    typed = [("delivery_id", "text"), ("expected_attempts", "integer")]
    typed += [(column, deliveries.c[column].type.compile(dialect=dialect)) for column in OUTCOME_COLUMNS]
    definitions = ", ".join(f'"{name}" {sql_type}' for name, sql_type in typed)
    undelivered = ", ".join(f"'{status}'" for status in UNDELIVERED)
    return (
        f"WITH recorded AS ({direct.insert_rows_statement(attempts, attempt_columns, 'attempts')}), "
        f"finished AS (UPDATE deliveries AS d SET {', '.join(f'{c} = o.{c}' for c in OUTCOME_COLUMNS)} "
        f"FROM jsonb_to_recordset(%(outcomes)s::jsonb) AS o({definitions}) "
        f"WHERE d.id = o.delivery_id AND d.status IN ({undelivered}) AND d.attempts = o.expected_attempts "
        "RETURNING d.id) "
        "SELECT count(*) FROM finished"
    )


async def record_outcomes_direct(driver_connection, attempt_rows: list[dict], outcomes: list[dict]) -> int:
    """``record_attempts`` + ``finish_attempts`` by psycopg itself in one autocommit statement
    (atomic by itself). Each outcome has ``delivery_id``, ``expected_attempts`` and every
    OUTCOME_COLUMNS value. Returns how many outcomes applied."""
    if not attempt_rows:
        return 0
    params = {"attempts": direct.rows_param(attempt_rows), "outcomes": direct.rows_param(outcomes)}
    cursor = await driver_connection.execute(record_outcomes_statement(tuple(attempt_rows[0])), params)
    (applied,) = await cursor.fetchone()
    return applied


async def finish_attempt(
    connection: AsyncConnection, delivery_id: str, *, expected_attempts: int, values: dict
) -> bool:
    """Apply an attempt's outcome, guarded: only while the delivery is still undelivered and no
    other attempt was recorded since this one was claimed."""
    result = await connection.execute(
        update(deliveries)
        .where(
            deliveries.c.id == delivery_id,
            deliveries.c.status.in_(UNDELIVERED),
            deliveries.c.attempts == expected_attempts,
        )
        .values(**values)
        .returning(deliveries.c.id)
    )
    return result.first() is not None


async def dead_letter_undelivered_for_endpoint(
    connection: AsyncConnection, endpoint_id: str, *, reason: str, now: datetime
) -> int:
    result = await connection.execute(
        update(deliveries)
        .where(deliveries.c.endpoint_id == endpoint_id, deliveries.c.status.in_(UNDELIVERED))
        .values(status="dead", dead_reason=reason, next_attempt_at=None, locked_until=None, updated_at=now)
        .returning(deliveries.c.id)
    )
    return len(result.all())


async def list_attempts(
    connection: AsyncConnection, delivery_id: str, *, limit: int, after_number: int | None = None
) -> list[dict]:
    statement = select(attempts).where(attempts.c.delivery_id == delivery_id)
    if after_number is not None:
        statement = statement.where(attempts.c.number > after_number)
    rows = await connection.execute(statement.order_by(attempts.c.number, attempts.c.id).limit(limit))
    return [dict(row._mapping) for row in rows]


def _selection(
    *,
    ids: list[str] | None = None,
    endpoint_id: str | None = None,
    event_id: str | None = None,
    event_type: str | None = None,
    status: str | None = None,
    dead_reason: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list:
    """WHERE conditions for the filters the log, the DLQ, replay and recover share; ``since``
    and ``until`` bound ``created_at`` as [since, until)."""
    conditions = []
    if ids is not None:
        conditions.append(deliveries.c.id.in_(ids))
    for column, value in (
        (deliveries.c.endpoint_id, endpoint_id),
        (deliveries.c.event_id, event_id),
        (deliveries.c.event_type, event_type),
        (deliveries.c.dead_reason, dead_reason),
    ):
        if value is not None:
            conditions.append(column == value)
    if status is not None:
        # Written into the SQL, not bound: the indexes by status are partial (not succeeded,
        # dead), and a prepared statement's generic plan cannot tell that a bound value meets
        # their condition; it would read the application's rows through ix_deliveries_app_id_id.
        conditions.append(deliveries.c.status == bindparam("status_filter", status, literal_execute=True))
    if since is not None:
        conditions.append(deliveries.c.created_at >= since)
    if until is not None:
        conditions.append(deliveries.c.created_at < until)
    return conditions


async def list_deliveries(
    connection: AsyncConnection,
    *,
    app_id: str | None,
    limit: int,
    before_id: str | None = None,
    **filters,
) -> list[dict]:
    """Newest first by id (ids are time-ordered, so new rows never shift a page). ``app_id``
    None lists every application's (admin)."""
    conditions = _selection(**filters)
    if app_id is not None:
        conditions.append(deliveries.c.app_id == app_id)
    if before_id:
        conditions.append(deliveries.c.id < before_id)
    rows = await connection.execute(select(deliveries).where(*conditions).order_by(deliveries.c.id.desc()).limit(limit))
    return [dict(row._mapping) for row in rows]


async def lock_for_manual_attempt(
    connection: AsyncConnection, delivery_id: str, *, app_id: str, now: datetime, lease: timedelta
) -> str:
    """Lease one delivery whatever its status, unless an attempt holds it: 'locked',
    'busy' (someone is sending it right now) or 'missing'."""
    result = await connection.execute(
        update(deliveries)
        .where(
            deliveries.c.id == delivery_id,
            deliveries.c.app_id == app_id,
            or_(deliveries.c.locked_until.is_(None), deliveries.c.locked_until < now),
        )
        .values(locked_until=now + lease)
        .returning(deliveries.c.id)
    )
    if result.first() is not None:
        return "locked"
    exists = await get_delivery(connection, delivery_id, app_id=app_id)
    return "busy" if exists else "missing"


async def release(connection: AsyncConnection, delivery_id: str) -> None:
    await connection.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(locked_until=None))


async def record_manual_outcome(
    connection: AsyncConnection, delivery_id: str, *, expected_attempts: int, values: dict
) -> dict | None:
    result = await connection.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id, deliveries.c.attempts == expected_attempts)
        .values(**values)
        .returning(*deliveries.c)
    )
    row = result.first()
    return dict(row._mapping) if row else None


async def requeue(
    connection: AsyncConnection,
    *,
    app_id: str,
    trigger: str,
    now: datetime,
    from_statuses: tuple[str, ...],
    **filters,
) -> list[str]:
    """Put matching deliveries back at the start of the retry schedule, due now. Guarded by
    status, so two replays of the same ids requeue (and send) each delivery once."""
    conditions = [deliveries.c.app_id == app_id, deliveries.c.status.in_(from_statuses), *_selection(**filters)]
    result = await connection.execute(
        update(deliveries)
        .where(*conditions)
        .values(
            status="pending",
            dead_reason=None,
            next_attempt_at=now,
            retry_base=deliveries.c.attempts,
            next_trigger=trigger,
            enqueued_at=now,
            locked_until=None,
            updated_at=now,
        )
        .returning(deliveries.c.id)
    )
    return list(result.scalars())


async def disabled_endpoints_among(
    connection: AsyncConnection, *, app_id: str, from_statuses: tuple[str, ...], **filters
) -> list[str]:
    """Ids of disabled endpoints that a requeue with these filters would target."""
    statement = (
        select(endpoints.c.id)
        .distinct()
        .join(deliveries, deliveries.c.endpoint_id == endpoints.c.id)
        .where(
            deliveries.c.app_id == app_id,
            deliveries.c.status.in_(from_statuses),
            endpoints.c.status != "enabled",
            *_selection(**filters),
        )
    )
    return sorted((await connection.execute(statement)).scalars())


async def discard(connection: AsyncConnection, delivery_id: str, *, app_id: str, now: datetime) -> dict | None:
    result = await connection.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id, deliveries.c.app_id == app_id, deliveries.c.status == "dead")
        .values(status="discarded", updated_at=now)
        .returning(*deliveries.c)
    )
    row = result.first()
    return dict(row._mapping) if row else None


async def dead_counts_by_reason(connection: AsyncConnection) -> dict[str, int]:
    rows = await connection.execute(
        select(deliveries.c.dead_reason, func.count()).where(deliveries.c.status == "dead").group_by(deliveries.c.dead_reason)
    )
    return {reason or "unknown": count for reason, count in rows}


async def hold(
    connection: AsyncConnection, delivery_ids: list[str], *, until: datetime, now: datetime, enqueued: bool
) -> None:
    """Put claimed deliveries back without an attempt: breaker open or rate limit reached.
    ``enqueued`` says a delayed message will wake them; otherwise the scheduler will."""
    if delivery_ids:
        await connection.execute(
            update(deliveries)
            # A delivery dead-lettered meanwhile (its endpoint disabled) stays as it is.
            .where(deliveries.c.id.in_(delivery_ids), deliveries.c.status.in_(UNDELIVERED))
            .values(next_attempt_at=until, locked_until=None, enqueued_at=until if enqueued else None, updated_at=now)
        )


async def endpoint_health(connection: AsyncConnection, endpoint_id: str, *, since: datetime) -> dict:
    """Attempt counts since ``since`` and the latest attempt of an endpoint's deliveries."""
    joined = attempts.join(deliveries, deliveries.c.id == attempts.c.delivery_id)
    counts = (
        await connection.execute(
            select(func.count(), func.count().filter(attempts.c.outcome == "success"))
            .select_from(joined)
            .where(deliveries.c.endpoint_id == endpoint_id, attempts.c.started_at >= since)
        )
    ).one()
    latest = (
        await connection.execute(
            select(attempts.c.started_at, attempts.c.error, attempts.c.response_status, attempts.c.outcome)
            .select_from(joined)
            .where(deliveries.c.endpoint_id == endpoint_id)
            .order_by(attempts.c.started_at.desc())
            .limit(1)
        )
    ).first()
    return {"attempts": counts[0], "successes": counts[1], "latest": dict(latest._mapping) if latest else None}
