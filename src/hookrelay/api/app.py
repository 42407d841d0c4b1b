"""The app factory: routes, auth dependency, problem details, metrics and the lifespan that
creates the per-process services (database engine, notifier, cursor codec, key cache)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.plugins.prometheus import PrometheusController

from hookrelay import __version__
from hookrelay.api.admin.controller import AdminController
from hookrelay.api.auth import KeyCache, authenticate_app
from hookrelay.api.deliveries.controller import DeliveriesController
from hookrelay.api.deliveries.dlq import AdminDeadLetterController, DeadLetterController
from hookrelay.api.endpoints.controller import EndpointsController
from hookrelay.api.events.controller import EventsController
from hookrelay.api.gauges import refresh_forever
from hookrelay.api.health import healthz, readyz
from hookrelay.api.jobs.controller import JobsController
from hookrelay.api.middleware import request_logging_middleware
from hookrelay.api.problems import exception_handlers
from hookrelay.jobs.registry import load_job_modules
from hookrelay.queue.sender import flush_current_loop
from hookrelay.services.context import Services, services_for_current_loop
from hookrelay.services.cursors import CursorCodec
from hookrelay.runtime import settle_heap
from hookrelay.settings import Settings

# Room for the JSON envelope around a payload of HOOKRELAY_MAX_PAYLOAD_BYTES.
BODY_ENVELOPE_BYTES = 16 * 1024


class MetricsController(PrometheusController):
    path = "/metrics"
    include_in_schema = False


def create_app(
    settings: Settings,
    *,
    in_process: bool = False,
    run_scheduler: bool = False,
    services: Services | None = None,
    refresh_gauges: bool = True,
) -> Litestar:
    """``services`` lets tests supply their own (then ``refresh_gauges=False``: the test client
    runs the lifespan on another event loop, where those services' connections cannot go)."""
    load_job_modules(settings.job_modules)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app_services = services or services_for_current_loop(settings, in_process=in_process)
        await app_services.notifier.start()
        app.state.services = app_services
        app.state.cursors = CursorCodec(settings.secret_key or "")
        app.state.key_cache = KeyCache()
        stop = asyncio.Event()
        background = [asyncio.create_task(refresh_forever(app_services, stop))] if refresh_gauges else []
        if run_scheduler:
            from hookrelay.scheduler import run_forever

            background.append(asyncio.create_task(run_forever(app_services, stop=stop)))
        settle_heap()
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*background, return_exceptions=True)
            await flush_current_loop()
            await app_services.notifier.stop()

    return Litestar(
        route_handlers=[
            JobsController, EndpointsController, EventsController, DeliveriesController, DeadLetterController, AdminController,
            AdminDeadLetterController, healthz, readyz, MetricsController,
        ],
        dependencies={"app_id": Provide(authenticate_app)},
        exception_handlers=exception_handlers,
        middleware=[request_logging_middleware],
        lifespan=[lifespan],
        request_max_body_size=settings.max_payload_bytes + BODY_ENVELOPE_BYTES,
        openapi_config=OpenAPIConfig(
            title="hookrelay",
            version=__version__,
            path="/schema",
            render_plugins=[ScalarRenderPlugin()],
        ),
        debug=False,
        logging_config=None,
    )
