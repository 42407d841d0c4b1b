"""The few statements that differ between PostgreSQL and SQLite."""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection


def insert_or_ignore(connection: AsyncConnection, table: Table):
    """``INSERT … ON CONFLICT DO NOTHING``: on PostgreSQL it waits for a conflicting row that is
    not yet committed, which is what makes concurrent idempotent requests create one row."""
    insert = postgres_insert if connection.dialect.name == "postgresql" else sqlite_insert
    return insert(table).on_conflict_do_nothing()


def for_update_skip_locked(connection: AsyncConnection, statement):
    """Claim rows that no other transaction holds; SQLite serializes writers anyway."""
    if connection.dialect.name == "postgresql":
        return statement.with_for_update(skip_locked=True)
    return statement
