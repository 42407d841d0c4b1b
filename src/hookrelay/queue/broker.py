"""The one place that sets Dramatiq's global broker; import it before any actor module.

Production uses Redis; ``hookrelay dev`` uses the in-process StubBroker with a Dramatiq worker
in a thread. Retries are not Dramatiq's business here: job retries are decided and stored in
the database, so the Retries middleware is left out and a failed message is simply dropped
(the scheduler re-finds whatever is still due).
"""

from __future__ import annotations

import threading

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO, CurrentMessage, ShutdownNotifications, TimeLimit

from hookrelay.settings import Settings, load_settings

JOBS_QUEUE = "jobs"
DELIVERIES_QUEUE = "deliveries"

# Handlers enforce their own per-type timeout; Dramatiq's limit is only a backstop.
BACKSTOP_TIME_LIMIT_MS = 24 * 3600 * 1000

_lock = threading.Lock()
_configured: dramatiq.Broker | None = None


def _middleware() -> list:
    return [
        AsyncIO(),
        CurrentMessage(),
        ShutdownNotifications(),
        TimeLimit(time_limit=BACKSTOP_TIME_LIMIT_MS),
    ]


def setup_broker(settings: Settings, *, in_process: bool = False) -> dramatiq.Broker:
    """Create and install the broker once per process."""
    global _configured
    with _lock:
        if _configured is not None:
            return _configured
        if in_process:
            broker: dramatiq.Broker = StubBroker(middleware=_middleware())
        else:
            if not settings.redis_url:
                raise RuntimeError("HOOKRELAY_REDIS_URL is required for the Redis broker")
            broker = RedisBroker(url=settings.redis_url, middleware=_middleware())
            from hookrelay.queue.sender import remember_url

            remember_url(broker, settings.redis_url)
        dramatiq.set_broker(broker)
        _configured = broker
        return broker


def ensure_broker() -> dramatiq.Broker:
    """Used by the actor module: the worker process configures from the environment."""
    if _configured is None:
        return setup_broker(load_settings())
    return _configured


def current_message_sent_at() -> float | None:
    """When the message being handled was sent (seconds since the epoch, the sender's clock),
    or None outside a message. ``CurrentMessage`` keeps it in a context variable, which the
    AsyncIO middleware carries into async actors."""
    message = CurrentMessage.get_current_message()
    return message.message_timestamp / 1000 if message is not None else None


def current_broker() -> dramatiq.Broker:
    if _configured is None:
        raise RuntimeError("the broker is not configured; call setup_broker first")
    return _configured
