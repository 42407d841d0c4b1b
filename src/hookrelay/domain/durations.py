"""Duration strings as written in HOOKRELAY_* settings: ``250ms``, ``30s``, ``5m``, ``1h``, ``3d``."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)\s*$")


def parse_duration(text: str) -> timedelta:
    """Parse one duration; raise ValueError naming the accepted forms on anything else."""
    match = _DURATION.match(text or "")
    if not match:
        raise ValueError(f"{text!r} is not a duration (use e.g. 250ms, 30s, 5m, 1h, 3d)")
    number, unit = match.groups()
    try:
        return timedelta(seconds=float(number) * _UNITS[unit])
    except OverflowError:
        raise ValueError(f"{text!r} is too long a duration") from None


def parse_duration_list(text: str) -> tuple[timedelta, ...]:
    """Parse a comma list such as ``0s,1h,3h,6h``; it must hold at least one duration."""
    parts = [part for part in (text or "").split(",")]
    if not parts or any(not part.strip() for part in parts):
        raise ValueError(f"{text!r} is not a comma list of durations (e.g. 0s,1h,3h,6h)")
    return tuple(parse_duration(part) for part in parts)


def format_duration(value: timedelta) -> str:
    """The shortest exact spelling, for messages and the settings dump."""
    total_ms = round(value.total_seconds() * 1000)
    for unit, factor in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if total_ms and total_ms % factor == 0:
            return f"{total_ms // factor}{unit}"
    return f"{total_ms}ms"
