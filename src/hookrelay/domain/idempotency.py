"""Idempotency-Key fingerprints: the same request body, however it is spaced or ordered, gives
the same fingerprint, so a client that re-serializes its retry is still recognised."""

from __future__ import annotations

import hashlib

import msgspec

_encoder = msgspec.json.Encoder(order="sorted")

MAX_KEY_LENGTH = 255


def fingerprint(scope: str, parsed_body: object) -> str:
    """SHA-256 over the route and the canonical JSON of the parsed body."""
    canonical = _encoder.encode(parsed_body)
    return hashlib.sha256(scope.encode() + b"\n" + canonical).hexdigest()


def is_valid_key(key: str) -> bool:
    return 0 < len(key) <= MAX_KEY_LENGTH and key.isprintable()
