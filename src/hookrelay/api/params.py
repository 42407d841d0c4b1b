"""Query and body values shared by several routes."""

from __future__ import annotations

import re
from datetime import datetime

from hookrelay.domain.timestamps import parse_timestamp
from hookrelay.errors import Unprocessable


def parse_time(field: str, value: str | None) -> datetime | None:
    """An RFC 3339 timestamp with a zone, or a 422 naming the field."""
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except ValueError:
        raise Unprocessable(
            f"{field} must be an RFC 3339 timestamp with a zone, e.g. 2026-11-22T21:50:01Z",
            errors=[{"field": field, "message": "not an RFC 3339 timestamp"}],
        ) from None


# A \u0000 escape that is not itself an escaped backslash followed by "u0000".
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def refuse_unstorable_text(field: str, encoded_json: bytes) -> None:
    """A 422 naming ``field`` if its JSON (as msgspec writes it) holds U+0000, which PostgreSQL
    stores in neither jsonb nor text. Refused here, before the request joins a group commit,
    so that it does not make its batch be written again row by row."""
    if b"\\u0000" in encoded_json and _NUL_ESCAPE.search(encoded_json):
        raise Unprocessable(
            f"{field} holds the character U+0000, which cannot be stored",
            code="unstorable_text",
            errors=[{"field": field, "message": "contains U+0000 (\\u0000)"}],
        )
