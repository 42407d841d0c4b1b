"""Prometheus gauges read from the database: the DLQ by reason, open breakers, held deliveries.

They describe shared state (every worker's work), so they are computed from PostgreSQL, not
counted in one process: a background task in each API process refreshes them every
REFRESH_SECONDS, and a scrape only reads the cached values.
"""

from __future__ import annotations

import asyncio
import contextlib

from prometheus_client import Gauge

from hookrelay.db.repositories import deliveries as deliveries_repo
from hookrelay.db.repositories import endpoints as endpoints_repo
from hookrelay.db.types import utcnow
from hookrelay.logging import get_logger

log = get_logger(__name__)
REFRESH_SECONDS = 10.0

DLQ_SIZE = Gauge("hookrelay_dlq_size", "Dead deliveries waiting in the DLQ, by reason.", ["reason"])
OPEN_BREAKERS = Gauge("hookrelay_open_breakers", "Endpoints whose circuit breaker is open or half-open.")
HELD_DELIVERIES = Gauge(
    "hookrelay_held_deliveries", "Due deliveries held back because their endpoint's breaker is open."
)
KNOWN_REASONS = ("rejected", "retries_exhausted", "gone", "endpoint_disabled")


async def refresh_once(services) -> None:
    async with services.database.transaction() as connection:
        dead = await deliveries_repo.dead_counts_by_reason(connection)
        open_breakers, held = await endpoints_repo.breaker_counts(connection, now=utcnow())
    for reason in {*KNOWN_REASONS, *dead}:
        DLQ_SIZE.labels(reason=reason).set(dead.get(reason, 0))
    OPEN_BREAKERS.set(open_breakers)
    HELD_DELIVERIES.set(held)


async def refresh_forever(services, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await refresh_once(services)
        except Exception as exc:  # the database may be briefly away; keep the last values
            log.warning("gauge_refresh_failed", error=str(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), REFRESH_SECONDS)
