"""Dramatiq actors. Messages carry ids only; the database row is the truth.

Importing this module configures the broker from the environment if nothing configured it yet,
which is how ``dramatiq hookrelay.queue.actors`` (run by ``hookrelay worker``) starts.
"""

from __future__ import annotations

import asyncio
import weakref

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from hookrelay.queue.broker import DELIVERIES_QUEUE, JOBS_QUEUE, current_message_sent_at, ensure_broker
from hookrelay.queue import sender

ensure_broker()

from hookrelay.jobs.registry import load_job_modules  # noqa: E402
from hookrelay.jobs.runner import execute_job  # noqa: E402
from hookrelay.logging import configure_logging, get_logger  # noqa: E402
from hookrelay.runtime import settle_heap, use_uvloop  # noqa: E402
from hookrelay.services.context import services_for_current_loop, set_enqueuers  # noqa: E402
from hookrelay.settings import load_settings  # noqa: E402

_settings = None
log = get_logger("hookrelay.worker")


def _worker_settings():
    """Loaded once per process, with the job modules imported alongside."""
    global _settings
    if _settings is None:
        _settings = load_settings()
        load_job_modules(_settings.job_modules)
    return _settings


def use_settings(settings) -> None:
    """``hookrelay dev`` hands its own settings (generated secrets, dev defaults) to the actors."""
    global _settings
    _settings = settings
    load_job_modules(settings.job_modules)


@dramatiq.actor(queue_name=JOBS_QUEUE)
async def run_job(job_id: str) -> None:
    services = services_for_current_loop(_worker_settings())
    await execute_job(services, job_id)


@dramatiq.actor(queue_name=DELIVERIES_QUEUE)
async def deliver(delivery_ids: list[str]) -> None:
    await dispatcher_for_current_loop().deliver(delivery_ids, sent_at=current_message_sent_at())


_dispatchers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def dispatcher_for_current_loop():
    """One HTTP connection pool (and dispatcher) per worker event loop."""
    loop = asyncio.get_running_loop()
    dispatcher = _dispatchers.get(loop)
    if dispatcher is None:
        # Imported here, once per loop, not at module level: the API process imports this
        # module to send messages and never delivers.
        from hookrelay.delivery.client import DeliveryClient
        from hookrelay.delivery.dispatcher import Dispatcher
        from hookrelay.delivery.rate_limit import RedisRateLimiter, shared_in_process_limiter

        services = services_for_current_loop(_worker_settings())
        settings = services.settings
        limiter = RedisRateLimiter(settings.redis_url) if settings.redis_url else shared_in_process_limiter
        dispatcher = _dispatchers[loop] = Dispatcher(services, DeliveryClient.from_settings(settings), limiter=limiter)
    return dispatcher


def _delay_ms(delay_seconds: float) -> int | None:
    return int(delay_seconds * 1000) if delay_seconds > 0 else None


def enqueue_job(job_id: str, delay_seconds: float = 0) -> None:
    """The run_job message; on an event loop it is pipelined, so the caller never waits on Redis."""
    sender.send(run_job, job_id, delay_ms=_delay_ms(delay_seconds))


# Ids per deliver message: large enough to amortise round trips, small enough to spread work.
DELIVERY_BATCH = 50


def enqueue_deliveries(delivery_ids: list[str], delay_seconds: float = 0) -> None:
    """deliver messages for these ids; on an event loop they are pipelined, as for jobs."""
    for start in range(0, len(delivery_ids), DELIVERY_BATCH):
        batch = list(delivery_ids[start : start + DELIVERY_BATCH])
        sender.send(deliver, batch, delay_ms=_delay_ms(delay_seconds))


def queued_deliveries() -> int:
    """Deliver messages waiting in the broker, not yet taken by a worker."""
    broker = deliver.broker
    try:
        if isinstance(broker, RedisBroker):
            return int(broker.client.llen(f"{broker.namespace}:{DELIVERIES_QUEUE}"))
        return broker.queues[DELIVERIES_QUEUE].qsize()
    except Exception:  # unknown: behave as if nothing waits, so lost work is still re-sent
        return 0


set_enqueuers(enqueue_job, enqueue_deliveries, queued_deliveries)


def configure_worker_process() -> None:
    """Called by the worker entry point, before Dramatiq boots the worker: logging before any
    message is handled, uvloop for the actors' event loop, the database checked once
    (:func:`check_database`), and the start-up heap settled. Without the last, collections
    (full passes over every imported module among them) took about 1 s of each worker
    process's time in a 40,000-delivery drain, 0.3 s with it (timed with ``gc.callbacks``,
    wall clock)."""
    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)
    use_uvloop()
    check_database(settings)
    settle_heap()


START_CHECK_SECONDS = 5.0


def check_database(settings) -> bool:
    """Connect to the database once, the way a delivery will, and say in the log if it cannot
    be reached: a wrong ``HOOKRELAY_DATABASE_URL`` shows at start, not at the first message
    (the worker still starts, and its messages wait in Redis until the database answers).
    The first delivery no longer pays for what a first connection loads (the TLS session's
    libraries, psycopg's and SQLAlchemy's compiled paths), and the RSS taken at start is the
    worker's working size: these first-use costs were 7 of the 13 MiB a worker process grew by
    under the end-to-end load of ``make bench`` (``/proc/<pid>/smaps`` before and after)."""
    from hookrelay.db.engine import Database
    from hookrelay.delivery.client import DeliveryClient

    async def connect_once() -> None:
        database = Database(settings.database_url)
        try:
            await database.ping()
            if database.is_postgres:
                async with database.driver_connection(autocommit=True) as driver:
                    await driver.execute("SELECT 1")
            # The HTTP client's TLS context (the CA bundle), as each event loop's client builds it.
            await DeliveryClient.from_settings(settings).aclose()
        finally:
            await database.dispose()

    try:
        # Bounded: a host that drops packets would otherwise hold the start for minutes.
        asyncio.run(asyncio.wait_for(connect_once(), START_CHECK_SECONDS))
    except Exception as exc:  # noqa: BLE001 - reported; the worker starts anyway
        # The type only, as /readyz says it: a driver's message may quote the connection string.
        log.warning("database_unreachable_at_start", error=type(exc).__name__)
        return False
    return True
