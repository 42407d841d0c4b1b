"""``hookrelay db upgrade`` and ``hookrelay apps create NAME``."""

from __future__ import annotations

import asyncio
import json

import click

from hookrelay.settings import load_settings

# The database modules (SQLAlchemy, alembic) are imported by the commands that use them:
# at the top they cost every ``hookrelay`` command, even ``--help``, two seconds on a small machine.


@click.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration (alembic upgrade head)."""
    from hookrelay.db.migrations import upgrade

    settings = load_settings()
    upgrade(settings.database_url)
    click.echo("database schema is current")


@click.group()
def apps() -> None:
    """Applications (admin)."""


@apps.command("create")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def apps_create(name: str, as_json: bool) -> None:
    """Create an application and print its first API key."""
    from hookrelay.db.engine import Database
    from hookrelay.db.migrations import SchemaBehind, ensure_schema_current
    from hookrelay.services.applications import create_application

    settings = load_settings()
    try:
        ensure_schema_current(settings.database_url)
    except SchemaBehind as exc:
        raise click.ClickException(str(exc)) from None

    async def create() -> dict:
        database = Database(settings.database_url)
        try:
            return await create_application(database, name)
        finally:
            await database.dispose()

    created = asyncio.run(create())
    if as_json:
        click.echo(json.dumps({k: created[k] for k in ("id", "name", "api_key")}))
    else:
        click.echo(f"application {created['id']} ({created['name']})")
        click.echo(f"API key: {created['api_key']}  (shown once; store it now)")
