"""The hottest writes, executed by psycopg itself on a connection from the same pool.

A statement through SQLAlchemy's asyncio layer costs about as much again as PostgreSQL's own
work for a one-row INSERT (``bench/db_overhead.py``). ``POST /v1/jobs`` and ``POST /v1/events``
therefore write through here on PostgreSQL. The SQL is built once from the same table
definitions, so the columns cannot drift from the models; SQLite (``hookrelay dev``) keeps
the SQLAlchemy statements.
"""

from __future__ import annotations

from functools import lru_cache

import msgspec
from psycopg.types.json import Jsonb
from sqlalchemy import JSON, Table


def _encode_json(value: object) -> str:
    return msgspec.json.encode(value).decode()


@lru_cache(maxsize=64)
def insert_statement(table: Table, columns: tuple[str, ...]) -> str:
    """``INSERT INTO table (columns) VALUES (%(column)s, …)`` in psycopg's own placeholders."""
    names = ", ".join(table.c[key].name for key in columns)  # KeyError for a column the table lacks
    placeholders = ", ".join(f"%({key})s" for key in columns)
    return f"INSERT INTO {table.name} ({names}) VALUES ({placeholders})"


@lru_cache(maxsize=64)
def _json_columns(table: Table) -> frozenset[str]:
    return frozenset(column.key for column in table.columns if isinstance(column.type, JSON))


def adapt_row(table: Table, row: dict) -> dict:
    """Values as psycopg takes them: JSON columns wrapped for jsonb, the rest as they are."""
    json_columns = _json_columns(table)
    return {
        name: (Jsonb(value, dumps=_encode_json) if name in json_columns and value is not None else value)
        for name, value in row.items()
    }


async def insert_rows(driver_connection, table: Table, rows: list[dict]) -> None:
    """One INSERT per row, sent in one pipeline (psycopg's executemany)."""
    if not rows:
        return
    statement = insert_statement(table, tuple(rows[0]))
    async with driver_connection.cursor() as cursor:
        if len(rows) == 1:
            await cursor.execute(statement, adapt_row(table, rows[0]))
        else:
            await cursor.executemany(statement, [adapt_row(table, row) for row in rows])
