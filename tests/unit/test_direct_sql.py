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
