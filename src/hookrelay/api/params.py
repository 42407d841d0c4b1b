"""Query and body values shared by several routes."""

from __future__ import annotations

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
