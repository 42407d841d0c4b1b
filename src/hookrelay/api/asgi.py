"""Entry point for ``hookrelay api``'s uvicorn workers: each process builds its app from the
environment, with the Redis broker configured before any message is sent."""

from __future__ import annotations

from litestar import Litestar

from hookrelay.logging import configure_logging
from hookrelay.queue.broker import setup_broker
from hookrelay.settings import load_settings


def create_production_app() -> Litestar:
    settings = load_settings()
    settings.require_production_services()
    configure_logging(settings.log_format, settings.log_level)
    setup_broker(settings)
    import hookrelay.queue.actors  # noqa: F401  (registers the enqueuer)

    from hookrelay.api.app import create_app

    return create_app(settings)
