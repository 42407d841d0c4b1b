"""format_timestamp: RFC 3339 in UTC with milliseconds; the one-entry memo never answers for
another instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hookrelay.domain.timestamps import format_timestamp


def test_the_same_instant_reads_the_same_in_any_zone_and_others_differ() -> None:
    instant = datetime(2026, 11, 23, 6, 40, 1, 123456, tzinfo=UTC)
    assert format_timestamp(instant) == "2026-11-23T06:40:01.123Z"
    assert format_timestamp(instant.astimezone(timezone(timedelta(hours=2)))) == "2026-11-23T06:40:01.123Z"
    assert format_timestamp(instant + timedelta(milliseconds=1)) == "2026-11-23T06:40:01.124Z"
    assert format_timestamp(instant) == "2026-11-23T06:40:01.123Z"
    assert format_timestamp(None) is None
