"""RFC 3339 timestamps in UTC with milliseconds, as every API resource shows them."""

from __future__ import annotations

from datetime import UTC, datetime


# The last instant formatted and its text: an event, its body and its deliveries show the same
# instant five times in one request. One tuple, replaced whole, so threads never see half of it.
_last_formatted: tuple[datetime, str] | None = None


def format_timestamp(value: datetime | None) -> str | None:
    global _last_formatted
    if value is None:
        return None
    last = _last_formatted
    if last is not None and last[0] == value:  # the same instant, whatever its time zone
        return last[1]
    # isoformat is about twice as fast as strftime, and this runs for every resource shown.
    text = value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    _last_formatted = (value, text)
    return text


def parse_timestamp(text: str) -> datetime:
    """Accepts RFC 3339 with ``Z`` or an offset; naive input is refused (ValueError)."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return value.astimezone(UTC)
