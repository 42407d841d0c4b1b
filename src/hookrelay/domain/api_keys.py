"""API key format: ``hr_`` + 43 url-safe characters (256 random bits), stored as SHA-256.

A fast hash is enough because the keys are random, not chosen by people; it keeps the
per-request lookup cheap."""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "hr_"


def generate_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_api_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX) and 10 <= len(token) <= 100
