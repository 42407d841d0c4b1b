"""Standard Webhooks signing: the header a receiver checks to trust a delivery.

Receivers verify hookrelay's requests with any Standard Webhooks library (``standardwebhooks``,
``svix`` and their ports), so the wire format here is fixed by that scheme, not by us:

* a secret is ``whsec_`` followed by the base64 of the raw HMAC key;
* the signed content is ``"{webhook-id}.{webhook-timestamp}."`` followed by the exact body bytes;
* ``webhook-signature`` is ``v1,<base64 HMAC-SHA256>``, and several signatures may be listed,
  space-separated. We send one per secret that is still valid, so during a rotation's grace
  period a receiver that still holds the old secret keeps verifying.

Everything here is pure: the caller passes the timestamp in, and only :func:`generate_secret`
draws randomness (from :mod:`secrets`, because a predictable key would be worthless).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _secrets
from collections.abc import Iterable
from functools import lru_cache

__all__ = [
    "MAX_KEY_BYTES",
    "MIN_KEY_BYTES",
    "SECRET_PREFIX",
    "SIGNATURE_VERSION",
    "decode_secret",
    "generate_secret",
    "is_valid_secret",
    "sign",
    "signature_header",
    "verify",
]

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
#: Keys we generate are 24 random bytes (192 bits), as Svix does.
GENERATED_KEY_BYTES = 24
#: User-supplied secrets must be at least as strong as generated ones ...
MIN_KEY_BYTES = 24
#: ... and no longer than one HMAC-SHA256 block: longer keys are hashed down by HMAC anyway,
#: so accepting them would only give a false sense of extra strength.
MAX_KEY_BYTES = 64


def generate_secret() -> str:
    """Return a fresh ``whsec_…`` secret holding 24 cryptographically random bytes."""
    key = _secrets.token_bytes(GENERATED_KEY_BYTES)
    return SECRET_PREFIX + base64.b64encode(key).decode("ascii")


def decode_secret(secret: str) -> bytes:
    """Return the raw HMAC key inside a ``whsec_`` secret.

    Strict on purpose: a secret that one library would decode differently from another (stray
    characters, a missing prefix, a too-short key) must be refused when it is stored, not
    discovered when a merchant's verification fails. Missing base64 padding is tolerated,
    as the Standard Webhooks libraries tolerate it.

    Raises:
        ValueError: the secret lacks the prefix, is not base64, or has a key length outside
            ``MIN_KEY_BYTES..MAX_KEY_BYTES``.
    """
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret must start with {SECRET_PREFIX!r}")
    encoded = secret[len(SECRET_PREFIX) :]
    if not encoded:
        raise ValueError("the webhook secret is empty after its prefix")
    padded = encoded + "=" * (-len(encoded) % 4)
    try:
        key = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the webhook secret is not valid base64") from exc
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise ValueError(
            f"the webhook secret must hold {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes, "
            f"not {len(key)}"
        )
    return key


def is_valid_secret(secret: object) -> bool:
    """Tell whether ``secret`` is a ``whsec_`` secret that :func:`decode_secret` accepts."""
    if not isinstance(secret, str):
        return False
    try:
        decode_secret(secret)
    except ValueError:
        return False
    return True


def _check_inputs(msg_id: str, timestamp: int, body: bytes) -> None:
    if not isinstance(msg_id, str) or not msg_id:
        raise ValueError("msg_id must be a non-empty string")
    # bool is an int subclass; True would silently sign "1".
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise TypeError("timestamp must be an int of unix seconds")
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise TypeError("body must be bytes: the exact bytes that are sent")


def _digest(key: bytes, msg_id: str, timestamp: int, body: bytes) -> bytes:
    signed = f"{msg_id}.{timestamp}.".encode() + bytes(body)
    # The one-shot form: no HMAC object per signature, which a worker makes for every attempt.
    return hmac.digest(key, signed, hashlib.sha256)


@lru_cache(maxsize=1024)
def _signing_key(secret: str) -> bytes:
    """:func:`decode_secret`, remembered: a worker signs every attempt to an endpoint with the
    same one or two secrets, and decoding one cost a fifth of signing it."""
    return decode_secret(secret)


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return ``v1,<base64 HMAC-SHA256>`` of ``f"{msg_id}.{timestamp}."`` + ``body``.

    ``body`` must be the bytes put on the wire: re-serialising JSON between signing and
    sending would change them and break every receiver's check.
    """
    _check_inputs(msg_id, timestamp, body)
    digest = _digest(_signing_key(secret), msg_id, timestamp, body)
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def signature_header(secrets: Iterable[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the ``webhook-signature`` value: one signature per secret, space-separated.

    Pass the current secret first, then any rotated-out secret still inside its grace period;
    receivers accept the request if any listed signature matches their secret. Duplicate
    secrets produce one signature.

    Raises:
        ValueError: no secret was given, or one is invalid.
    """
    signatures: list[str] = []
    for secret in secrets:
        signature = sign(secret, msg_id, timestamp, body)
        if signature not in signatures:
            signatures.append(signature)
    if not signatures:
        raise ValueError("at least one secret is needed to sign a webhook")
    return " ".join(signatures)


def verify(
    secret: str,
    msg_id: str,
    timestamp: int,
    body: bytes,
    header: str,
    *,
    now: int,
    tolerance_seconds: int = 300,
) -> bool:
    """Check a ``webhook-signature`` header the way a Standard Webhooks receiver does.

    For hookrelay's own receiving side (``hookrelay listen``) and tests. True when the
    timestamp is within ``tolerance_seconds`` of ``now`` (both unix seconds; the tolerance
    stops replays of old captured requests) and any ``v1`` signature in ``header`` matches.
    Unknown versions and malformed entries are skipped, as the scheme requires.
    """
    _check_inputs(msg_id, timestamp, body)
    if abs(now - timestamp) > tolerance_seconds:
        return False
    expected = _digest(decode_secret(secret), msg_id, timestamp, body)
    for entry in header.split(" "):
        version, sep, encoded = entry.partition(",")
        if not sep or version != SIGNATURE_VERSION:
            continue
        try:
            candidate = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(expected, candidate):
            return True
    return False
