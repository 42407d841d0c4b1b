"""Prefixed, time-ordered identifiers (``job_01J…``).

The 26-character tail is a ULID-style Crockford base32 of a 48-bit millisecond timestamp and
80 random bits, so ids sort by creation time. Lists page by id alone, which gives cursors a
total order that new rows cannot disturb.
"""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

PREFIXES = ("app", "key", "job", "evt", "ep", "dlv", "att")


def new_id(prefix: str, *, now_ms: int | None = None, randomness: bytes | None = None) -> str:
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    millis = int(time.time() * 1000) if now_ms is None else now_ms
    tail = randomness if randomness is not None else os.urandom(10)
    value = (millis << 80) | int.from_bytes(tail, "big")
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"


def has_prefix(identifier: str, prefix: str) -> bool:
    return identifier.startswith(prefix + "_") and len(identifier) == len(prefix) + 27
