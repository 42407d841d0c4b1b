"""The hottest writes, executed by psycopg itself on a connection from the same pool.

A statement through SQLAlchemy's asyncio layer costs about as much again as PostgreSQL's own
work for a one-row INSERT (``bench/db_overhead.py``). ``POST /v1/jobs``, ``POST /v1/events``
and the worker's attempt writes therefore go through here on PostgreSQL. The SQL is built
once from the same table definitions, so the columns cannot drift from the models; SQLite
(``hookrelay dev``) keeps the SQLAlchemy statements.

Several rows, or rows of several tables, are written by *one* autocommit statement: rows as
one JSON parameter (``jsonb_to_recordset``), tables joined by ``WITH … AS (INSERT …)``. One statement is atomic by
itself, and it costs a third of the client CPU of the same writes in a pipelined transaction
(psycopg's pipeline mode is Python-heavy: 0.85 against 0.35 ms for an event and its delivery).
"""

from __future__ import annotations

from functools import lru_cache

import msgspec
from psycopg.types.json import Jsonb
from sqlalchemy import JSON, Table
from sqlalchemy.dialects import postgresql


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


@lru_cache(maxsize=64)
def rows_select(table: Table, columns: tuple[str, ...], param: str) -> str:
    """``SELECT … FROM jsonb_to_recordset(%(<param>)s::jsonb) AS r(<column> <type>, …)``: the
    rows that :func:`rows_param` encoded, typed as the table's columns. Any number of rows in
    one parameter: psycopg adapting one array per column cost more than the statement saved."""
    dialect = postgresql.dialect()
    json_columns = _json_columns(table)
    definitions = ", ".join(
        f'"{key}" ' + ("jsonb" if key in json_columns else table.c[key].type.compile(dialect=dialect))
        for key in columns
    )
    selected = ", ".join(f'r."{key}"' for key in columns)
    return f"SELECT {selected} FROM jsonb_to_recordset(%({param})s::jsonb) AS r({definitions})"


@lru_cache(maxsize=64)
def insert_rows_statement(table: Table, columns: tuple[str, ...], param: str) -> str:
    """``INSERT INTO table (columns) SELECT …`` the rows of parameter ``param`` (:func:`rows_select`)."""
    names = ", ".join(table.c[key].name for key in columns)
    return f"INSERT INTO {table.name} ({names}) {rows_select(table, columns, param)}"


def rows_param(rows: list[dict]) -> str:
    """Rows as one JSON array for :func:`rows_select` (a JSON null arrives as SQL NULL)."""
    return _encode_json(rows)


async def insert_row(driver_connection, table: Table, row: dict) -> None:
    """One INSERT of ``row`` (several rows: :func:`insert_rows_statement`)."""
    await driver_connection.execute(insert_statement(table, tuple(row)), adapt_row(table, row))
