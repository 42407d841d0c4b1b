"""Server processes: ``dev``, ``api``, ``worker``, ``scheduler``."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import click

from hookrelay.settings import Settings, load_settings

# uvicorn's httptools protocol, sending each response in one write (see the module).
COALESCED_WRITES_PROTOCOL = "hookrelay.api.http_protocol:CoalescedWritesProtocol"


CONSUMER_WAKE_MS = 100


def _production_settings() -> Settings:
    from hookrelay.db.migrations import SchemaBehind, ensure_schema_current

    settings = load_settings()
    settings.require_production_services()
    try:
        ensure_schema_current(settings.database_url)
    except SchemaBehind as exc:
        raise click.ClickException(str(exc)) from None
    return settings


@click.command()
@click.option("--bind", help="HOST:PORT (default: HOOKRELAY_BIND)")
@click.option("--workers", default=1, show_default=True, help="uvicorn worker processes")
def api(bind: str | None, workers: int) -> None:
    """Serve the HTTP API (production: PostgreSQL + Redis)."""
    import uvicorn

    settings = _production_settings()
    if bind:
        os.environ["HOOKRELAY_BIND"] = bind
        settings = load_settings()
    host, port = settings.host_and_port
    uvicorn.run(
        "hookrelay.api.asgi:create_production_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        loop="uvloop",
        http=COALESCED_WRITES_PROTOCOL,
    )


@click.command()
@click.option("--processes", type=int, default=None, help="worker processes (default: CPU count)")
@click.option("--threads", type=int, default=8, show_default=True, help="concurrent messages per process")
def worker(processes: int | None, threads: int) -> None:
    """Run Dramatiq worker processes (job execution and webhook delivery)."""
    _production_settings()
    # Dramatiq checks its in-memory delay queue each time a consumer wakes; waking every 100ms
    # (not the default 1s) keeps a retry scheduled "in 1s" within about 0.1s of its time.
    os.environ.setdefault("dramatiq_worker_timeout", str(CONSUMER_WAKE_MS))
    from dramatiq.cli import main as dramatiq_main
    from dramatiq.cli import make_argument_parser

    from hookrelay.runtime import settle_heap

    _import_worker_modules()
    # Frozen before the fork, what was imported stays out of every process's collections
    # without each child's first collection writing to (and so copying) those pages.
    settle_heap()
    if sys.argv[0].endswith("__main__.py"):
        # Started as `python -m hookrelay worker`: Dramatiq reloads on SIGHUP by executing
        # sys.argv again, which needs an executable first.
        sys.argv = [sys.executable, "-m", "hookrelay", *sys.argv[1:]]
    arguments = make_argument_parser().parse_args([
        "hookrelay.queue.worker_entry",
        "--processes", str(processes or os.cpu_count() or 1),
        "--threads", str(threads),
        "--queues", "jobs", "deliveries",
    ])
    sys.exit(dramatiq_main(arguments))


def _import_worker_modules() -> None:
    """Import what every worker process needs before Dramatiq forks them, so each inherits it
    instead of importing it again: booting a worker then costs one import instead of one per
    process (about 2.5 CPU-seconds each on a small machine), and its processes are ready at
    once. Only imports that open nothing (no connection, thread or event loop) belong here;
    the broker and the actors are set up in each process by ``worker_entry``."""
    import dramatiq.brokers.redis  # noqa: F401
    import dramatiq.middleware.asyncio  # noqa: F401

    import hookrelay.delivery.dispatcher  # noqa: F401
    import hookrelay.delivery.rate_limit  # noqa: F401
    import hookrelay.jobs.runner  # noqa: F401
    import hookrelay.queue.sender  # noqa: F401
    import hookrelay.services.context  # noqa: F401


@click.command()
def scheduler() -> None:
    """Run the periodic loop (lease recovery, lost-message re-sends, purges)."""
    from hookrelay.logging import configure_logging
    from hookrelay.queue.broker import setup_broker

    settings = _production_settings()
    configure_logging(settings.log_format, settings.log_level)
    setup_broker(settings)
    import hookrelay.queue.actors  # noqa: F401  (registers the enqueuer)
    from hookrelay.scheduler import run_forever
    from hookrelay.services.context import services_for_current_loop

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await run_forever(services_for_current_loop(settings), stop=stop)

    asyncio.run(main())


@click.command()
@click.option("--bind", help="HOST:PORT (default: HOOKRELAY_BIND, 127.0.0.1:8080)")
@click.option("--data-dir", default=".hookrelay", show_default=True, help="where dev keeps its generated secrets")
def dev(bind: str | None, data_dir: str) -> None:
    """Everything in one process on SQLite with an in-process broker: no services needed."""
    from hookrelay.cli.dev import run_dev

    run_dev(bind=bind, data_dir=data_dir)
