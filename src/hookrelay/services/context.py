"""What a use case needs — settings, database, notifier, and a way to enqueue — in one object.

The API builds it in its lifespan; actors and the scheduler get one per event loop from
``services_for_current_loop``. Nothing here depends on Litestar, so the same services run from
the API, a Dramatiq actor or a CLI command.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

from hookrelay.db.engine import Database, database_for_current_loop
from hookrelay.queue.notify import InProcessNotifier, Notifier, RedisNotifier
from hookrelay.settings import Settings

# Send the run_job message for (job_id, delay_seconds), and deliver messages for delivery ids;
# set by whoever configured the broker.
Enqueue = Callable[[str, float], None]
EnqueueDeliveries = Callable[..., None]


@dataclass
class Services:
    settings: Settings
    database: Database
    notifier: Notifier
    enqueue_job: Enqueue
    enqueue_deliveries: EnqueueDeliveries
    # How many deliver messages wait in the broker (the scheduler re-sends less when many do).
    queued_deliveries: Callable[[], int] = lambda: 0
    # The loop's group-commit writers by name (``hookrelay.db.group_commit``).
    group_commits: dict = field(default_factory=dict)


_shared_in_process_notifier = InProcessNotifier()
_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Services] = weakref.WeakKeyDictionary()
_lock = threading.Lock()
_enqueue_job: Enqueue | None = None
_enqueue_deliveries: EnqueueDeliveries | None = None
_queued_deliveries: Callable[[], int] = lambda: 0


def set_enqueuers(jobs: Enqueue, deliveries: EnqueueDeliveries, queued_deliveries: Callable[[], int]) -> None:
    global _enqueue_job, _enqueue_deliveries, _queued_deliveries
    _enqueue_job, _enqueue_deliveries, _queued_deliveries = jobs, deliveries, queued_deliveries


def make_notifier(settings: Settings, *, in_process: bool) -> Notifier:
    if in_process or not settings.redis_url:
        return _shared_in_process_notifier
    return RedisNotifier(settings.redis_url)


def services_for_current_loop(settings: Settings, *, in_process: bool = False) -> Services:
    loop = asyncio.get_running_loop()
    with _lock:
        services = _by_loop.get(loop)
        if services is None or services.settings is not settings:
            if _enqueue_job is None:
                raise RuntimeError("no job enqueuer configured (import hookrelay.queue.actors)")
            services = Services(
                settings=settings,
                database=database_for_current_loop(settings),
                notifier=make_notifier(settings, in_process=in_process),
                enqueue_job=_enqueue_job,
                enqueue_deliveries=_enqueue_deliveries,
                queued_deliveries=_queued_deliveries,
            )
            _by_loop[loop] = services
        return services
