"""``hookrelay dev``: API, worker and scheduler in one process on SQLite.

The same services, actors and state machines as production; only the broker (Dramatiq's
StubBroker with a worker thread), the database and the notifier (in-process) differ.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import click

from hookrelay.db.migrations import upgrade
from hookrelay.settings import Settings, load_settings

WORKER_THREADS = 8


def _kept_secret(folder: Path, name: str, make) -> str:
    path = folder / name
    if path.exists():
        return path.read_text().strip()
    value = make()
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value


def _dev_settings(bind: str | None, data_dir: Path) -> Settings:
    settings = load_settings(dev=True)
    overrides: dict = {}
    if not settings.secret_key:
        overrides["secret_key"] = _kept_secret(data_dir, "secret_key", lambda: secrets.token_urlsafe(32))
    if not settings.admin_token:
        overrides["admin_token"] = _kept_secret(data_dir, "admin_token", lambda: "adm_" + secrets.token_urlsafe(24))
    if bind:
        overrides["bind"] = bind
    return settings.with_overrides(**overrides)


async def _default_api_key(settings: Settings, data_dir: Path) -> str:
    """The key printed at start: created with the default application on first start."""
    from hookrelay.db.engine import Database
    from hookrelay.services.applications import add_api_key, create_application, list_applications

    key_file = data_dir / "api_key"
    database = Database(settings.database_url)
    try:
        applications = await list_applications(database)
        if key_file.exists() and applications:
            return key_file.read_text().strip()
        if applications:
            created = await add_api_key(database, applications[0]["id"])
        else:
            created = await create_application(database, "default")
    finally:
        await database.dispose()
    key_file.write_text(created["api_key"] + "\n")
    key_file.chmod(0o600)
    return created["api_key"]


def run_dev(*, bind: str | None, data_dir: str) -> None:
    import dramatiq
    import uvicorn

    from hookrelay.logging import configure_logging
    from hookrelay.queue.broker import DELIVERIES_QUEUE, JOBS_QUEUE, setup_broker

    folder = Path(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    settings = _dev_settings(bind, folder)
    configure_logging(settings.log_format, settings.log_level)
    upgrade(settings.database_url)
    api_key = asyncio.run(_default_api_key(settings, folder))

    broker = setup_broker(settings, in_process=True)
    from hookrelay.queue import actors

    actors.use_settings(settings)
    broker.declare_queue(JOBS_QUEUE)
    broker.declare_queue(DELIVERIES_QUEUE)
    worker = dramatiq.Worker(broker, worker_threads=WORKER_THREADS, worker_timeout=100)
    worker.start()

    from hookrelay.api.app import create_app
    from hookrelay.cli.servers import COALESCED_WRITES_PROTOCOL

    host, port = settings.host_and_port
    url = f"http://{host}:{port}"
    app = create_app(settings, in_process=True, run_scheduler=True)
    server = uvicorn.Server(uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, http=COALESCED_WRITES_PROTOCOL
    ))

    original_startup = server.startup

    async def startup_then_banner(sockets=None) -> None:
        await original_startup(sockets=sockets)
        if server.started:
            _print_banner(url, settings, api_key)

    server.startup = startup_then_banner
    try:
        server.run()
    finally:
        worker.stop()


def _print_banner(url: str, settings: Settings, api_key: str) -> None:
    click.echo("")
    click.echo(click.style("hookrelay dev is running", bold=True))
    click.echo(f"  API URL:      {url}")
    click.echo(f"  Admin token:  {settings.admin_token}")
    click.echo(f"  API key:      {api_key}")
    click.echo(f"  API docs:     {url}/schema")
    click.echo(f"  Database:     {settings.database_url}")
    click.echo("")
    click.echo("Try it:")
    click.echo(
        f"  curl -s -X POST {url}/v1/jobs -H 'Authorization: Bearer {api_key}' "
        "-H 'Content-Type: application/json' -d '{\"type\": \"demo.sleep\", \"input\": {\"seconds\": 3, \"steps\": 3}}'"
    )
    click.echo("")
