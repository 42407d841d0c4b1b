"""Alembic, driven from code: migrations are the only way the schema is made, in both modes."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool


class SchemaBehind(RuntimeError):
    """The database is older than this code; the message names the command that fixes it."""


def _script_location() -> Path:
    packaged = Path(__file__).resolve().parents[1] / "_alembic"
    if packaged.is_dir():
        return packaged
    source_tree = Path(__file__).resolve().parents[3] / "alembic"
    if source_tree.is_dir():
        return source_tree
    raise RuntimeError("hookrelay's alembic migrations are missing from this installation")


def sync_url(url: str) -> str:
    """Migrations run synchronously; psycopg 3 serves both modes, aiosqlite maps to sqlite3."""
    if url.startswith("sqlite+aiosqlite"):
        return "sqlite" + url[len("sqlite+aiosqlite") :]
    if url.startswith("postgresql+asyncpg"):
        return "postgresql+psycopg" + url[len("postgresql+asyncpg") :]
    return url


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_script_location()))
    config.set_main_option("sqlalchemy.url", database_url)
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def head_revision(database_url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()


def current_revision(database_url: str) -> str | None:
    engine = create_engine(sync_url(database_url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def ensure_schema_current(database_url: str) -> None:
    current, head = current_revision(database_url), head_revision(database_url)
    if current != head:
        raise SchemaBehind(
            f"the database schema is at {current or 'nothing'} but this hookrelay needs {head}: "
            "run `hookrelay db upgrade` first"
        )
