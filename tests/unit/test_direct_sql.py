"""``hookrelay.db.direct``: INSERTs built from the table definitions, and values adapted for
psycopg (JSON columns wrapped as jsonb, the rest unchanged)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from psycopg.types.json import Jsonb

from hookrelay.db.direct import adapt_row, insert_statement
from hookrelay.db.models import Job


def test_insert_names_the_given_columns_in_order():
    sql = insert_statement(Job.__table__, ("id", "metadata", "input"))
    assert sql == "INSERT INTO jobs (id, metadata, input) VALUES (%(id)s, %(metadata)s, %(input)s)"


def test_an_unknown_column_is_refused():
    with pytest.raises(KeyError):
        insert_statement(Job.__table__, ("id", "no_such_column"))


def test_json_columns_are_wrapped_and_others_left_alone():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    row = adapt_row(Job.__table__, {"id": "job_1", "input": {"a": [1, 2]}, "metadata": None, "created_at": now})
    assert isinstance(row["input"], Jsonb) and row["input"].obj == {"a": [1, 2]}
    assert row["metadata"] is None  # SQL NULL, not JSON null
    assert row["id"] == "job_1" and row["created_at"] is now


def test_rows_travel_as_one_json_parameter_typed_as_the_columns():
    from hookrelay.db.direct import insert_rows_statement, rows_param

    sql = insert_rows_statement(Job.__table__, ("id", "input", "created_at"), "jobs")
    assert sql == (
        'INSERT INTO jobs (id, input, created_at) SELECT r."id", r."input", r."created_at" '
        'FROM jsonb_to_recordset(%(jobs)s::jsonb) AS r("id" VARCHAR(40), "input" jsonb, '
        '"created_at" TIMESTAMP WITH TIME ZONE)'
    )
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [{"id": "job_1", "input": {"a": 1}, "created_at": now}, {"id": "job_2", "input": None, "created_at": now}]
    assert rows_param(rows) == (
        '[{"id":"job_1","input":{"a":1},"created_at":"2026-01-01T00:00:00Z"},'
        '{"id":"job_2","input":null,"created_at":"2026-01-01T00:00:00Z"}]'
    )
