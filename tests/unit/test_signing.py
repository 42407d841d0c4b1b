"""Signing must produce exactly what Standard Webhooks receivers verify."""

from __future__ import annotations

import base64
import time
from datetime import datetime, timezone

import pytest
import standardwebhooks.webhooks as std
import svix.webhooks as svix

from hookrelay.domain.signing import (
    MAX_KEY_BYTES,
    MIN_KEY_BYTES,
    decode_secret,
    generate_secret,
    is_valid_secret,
    sign,
    signature_header,
    verify,
)

BODY = b'{"id":"evt_1","type":"job.completed","created_at":"2026-11-22T21:50:01.123Z","data":{"x":"\xc3\xa9"}}'
MSG_ID = "evt_2fQb9"
SECRET = "whsec_" + base64.b64encode(bytes(range(24))).decode()


def _headers(msg_id: str, timestamp: int, signature: str) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


def _now() -> int:
    # The libraries check the timestamp against the real clock (5 minute tolerance).
    return int(time.time())


# --- secrets -------------------------------------------------------------------------------


def test_generated_secret_has_prefix_and_24_random_bytes() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_")
    assert len(decode_secret(secret)) == 24
    assert is_valid_secret(secret)


def test_generated_secrets_differ() -> None:
    assert len({generate_secret() for _ in range(50)}) == 50


def test_decode_secret_returns_raw_key() -> None:
    assert decode_secret(SECRET) == bytes(range(24))


def test_decode_secret_tolerates_missing_padding() -> None:
    key = bytes(range(25))  # 25 bytes -> base64 ends with "=="
    encoded = base64.b64encode(key).decode()
    assert encoded.endswith("==")
    assert decode_secret("whsec_" + encoded.rstrip("=")) == key


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "whsec_",
        base64.b64encode(bytes(24)).decode(),  # no prefix
        "WHSEC_" + base64.b64encode(bytes(24)).decode(),  # prefix is case-sensitive
        "whsec_not*base64!!not*base64!!not*base64!!",
        "whsec_" + base64.b64encode(bytes(24)).decode() + " ",  # trailing space
        "whsec_" + base64.b64encode(bytes(MIN_KEY_BYTES - 1)).decode(),  # too short
        "whsec_" + base64.b64encode(bytes(MAX_KEY_BYTES + 1)).decode(),  # too long
        "whsec_" + base64.urlsafe_b64encode(b"\xff" * 24).decode(),  # url-safe alphabet
    ],
)
def test_bad_secrets_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        decode_secret(bad)
    assert not is_valid_secret(bad)


def test_key_length_bounds_are_inclusive() -> None:
    for size in (MIN_KEY_BYTES, MAX_KEY_BYTES):
        assert is_valid_secret("whsec_" + base64.b64encode(bytes(size)).decode())


@pytest.mark.parametrize("value", [None, 42, b"whsec_abc"])
def test_is_valid_secret_rejects_non_strings(value: object) -> None:
    assert not is_valid_secret(value)


def test_generated_secret_is_accepted_by_both_libraries() -> None:
    secret = generate_secret()
    std.Webhook(secret)
    svix.Webhook(secret)


# --- signatures against the reference libraries ----------------------------------------------


def test_signature_equals_standardwebhooks_sign() -> None:
    ts = 1_790_000_000
    expected = std.Webhook(SECRET).sign(
        MSG_ID, datetime.fromtimestamp(ts, tz=timezone.utc), BODY.decode()
    )
    assert sign(SECRET, MSG_ID, ts, BODY) == expected


def test_signature_matches_known_vector() -> None:
    # Computed independently of hookrelay: HMAC-SHA256 over "msg_id.ts.body".
    import hashlib
    import hmac

    ts = 1_700_000_000
    raw = hmac.new(bytes(range(24)), f"{MSG_ID}.{ts}.".encode() + BODY, hashlib.sha256).digest()
    assert sign(SECRET, MSG_ID, ts, BODY) == "v1," + base64.b64encode(raw).decode()


def test_signature_verifies_with_standardwebhooks_and_svix() -> None:
    secret = generate_secret()
    ts = _now()
    headers = _headers(MSG_ID, ts, sign(secret, MSG_ID, ts, BODY))
    assert std.Webhook(secret).verify(BODY, headers)["id"] == "evt_1"
    svix.Webhook(secret).verify(BODY, headers)  # raises if invalid


def test_tampered_body_fails_library_verification() -> None:
    secret = generate_secret()
    ts = _now()
    headers = _headers(MSG_ID, ts, sign(secret, MSG_ID, ts, BODY))
    tampered = BODY.replace(b"evt_1", b"evt_2")
    with pytest.raises(std.WebhookVerificationError):
        std.Webhook(secret).verify(tampered, headers)
    with pytest.raises(svix.WebhookVerificationError):
        svix.Webhook(secret).verify(tampered, headers)


def test_wrong_secret_fails_library_verification() -> None:
    ts = _now()
    headers = _headers(MSG_ID, ts, sign(generate_secret(), MSG_ID, ts, BODY))
    with pytest.raises(std.WebhookVerificationError):
        std.Webhook(generate_secret()).verify(BODY, headers)


def test_signature_depends_on_id_timestamp_and_body() -> None:
    base = sign(SECRET, MSG_ID, 100, BODY)
    assert sign(SECRET, MSG_ID + "x", 100, BODY) != base
    assert sign(SECRET, MSG_ID, 101, BODY) != base
    assert sign(SECRET, MSG_ID, 100, BODY + b" ") != base
    assert sign(SECRET, MSG_ID, 100, BODY) == base  # deterministic


def test_sign_accepts_bytearray_and_empty_body() -> None:
    assert sign(SECRET, MSG_ID, 1, bytearray(BODY)) == sign(SECRET, MSG_ID, 1, BODY)
    assert sign(SECRET, MSG_ID, 1, b"").startswith("v1,")


@pytest.mark.parametrize(
    ("msg_id", "timestamp", "body", "error"),
    [
        ("", 1, b"{}", ValueError),
        (MSG_ID, "1", b"{}", TypeError),
        (MSG_ID, 1.5, b"{}", TypeError),
        (MSG_ID, True, b"{}", TypeError),
        (MSG_ID, 1, "{}", TypeError),
    ],
)
def test_sign_rejects_bad_inputs(msg_id: str, timestamp: object, body: object, error: type) -> None:
    with pytest.raises(error):
        sign(SECRET, msg_id, timestamp, body)  # type: ignore[arg-type]


def test_sign_rejects_bad_secret() -> None:
    with pytest.raises(ValueError):
        sign("whsec_short", MSG_ID, 1, BODY)


def test_a_refused_secret_is_refused_every_time_and_a_good_one_signs_the_same_every_time() -> None:
    # Decoded keys are remembered per secret: a refusal must not be remembered as a key, and a
    # remembered key must sign exactly as a freshly decoded one.
    for _ in range(2):
        with pytest.raises(ValueError):
            sign("whsec_short", MSG_ID, 1, BODY)
    ts = 1_790_000_000
    expected = std.Webhook(SECRET).sign(MSG_ID, datetime.fromtimestamp(ts, tz=timezone.utc), BODY.decode())
    assert [sign(SECRET, MSG_ID, ts, BODY) for _ in range(3)] == [expected] * 3


# --- rotation: one signature per secret ------------------------------------------------------


def test_rotation_header_has_one_signature_per_secret_each_valid_with_its_own() -> None:
    new, old = generate_secret(), generate_secret()
    ts = _now()
    header = signature_header([new, old], MSG_ID, ts, BODY)
    parts = header.split(" ")
    assert parts == [sign(new, MSG_ID, ts, BODY), sign(old, MSG_ID, ts, BODY)]

    for secret in (new, old):
        headers = _headers(MSG_ID, ts, header)
        std.Webhook(secret).verify(BODY, headers)
        svix.Webhook(secret).verify(BODY, headers)
    # Each signature on its own is valid with its own secret only.
    assert std.Webhook(new).verify(BODY, _headers(MSG_ID, ts, parts[0]))
    assert std.Webhook(old).verify(BODY, _headers(MSG_ID, ts, parts[1]))
    with pytest.raises(std.WebhookVerificationError):
        std.Webhook(old).verify(BODY, _headers(MSG_ID, ts, parts[0]))
    with pytest.raises(std.WebhookVerificationError):
        std.Webhook(new).verify(BODY, _headers(MSG_ID, ts, parts[1]))


def test_rotation_header_is_refused_for_a_third_secret() -> None:
    ts = _now()
    header = signature_header([generate_secret(), generate_secret()], MSG_ID, ts, BODY)
    with pytest.raises(svix.WebhookVerificationError):
        svix.Webhook(generate_secret()).verify(BODY, _headers(MSG_ID, ts, header))


def test_single_secret_header_is_a_single_signature() -> None:
    assert signature_header([SECRET], MSG_ID, 5, BODY) == sign(SECRET, MSG_ID, 5, BODY)


def test_duplicate_secrets_give_one_signature() -> None:
    assert signature_header([SECRET, SECRET], MSG_ID, 5, BODY) == sign(SECRET, MSG_ID, 5, BODY)


def test_signature_header_needs_a_secret() -> None:
    with pytest.raises(ValueError):
        signature_header([], MSG_ID, 5, BODY)


def test_signature_header_refuses_any_invalid_secret() -> None:
    with pytest.raises(ValueError):
        signature_header([SECRET, "nope"], MSG_ID, 5, BODY)


# --- verify (hookrelay's own receiving side) -------------------------------------------------


def test_verify_accepts_library_signature() -> None:
    ts = 1_790_000_000
    lib = std.Webhook(SECRET).sign(
        MSG_ID, datetime.fromtimestamp(ts, tz=timezone.utc), BODY.decode()
    )
    assert verify(SECRET, MSG_ID, ts, BODY, lib, now=ts)


def test_verify_accepts_any_listed_signature_and_skips_unknown_versions() -> None:
    other = generate_secret()
    good = sign(SECRET, MSG_ID, 10, BODY)
    header = f"v2,abc v1,!!notbase64 garbage {sign(other, MSG_ID, 10, BODY)} {good}"
    assert verify(SECRET, MSG_ID, 10, BODY, header, now=10)
    assert not verify(SECRET, MSG_ID, 10, BODY, "v2," + good[3:], now=10)


def test_verify_rejects_wrong_body_and_wrong_secret() -> None:
    header = sign(SECRET, MSG_ID, 10, BODY)
    assert not verify(SECRET, MSG_ID, 10, BODY + b"x", header, now=10)
    assert not verify(generate_secret(), MSG_ID, 10, BODY, header, now=10)


def test_verify_timestamp_tolerance_is_inclusive() -> None:
    header = sign(SECRET, MSG_ID, 1000, BODY)
    assert verify(SECRET, MSG_ID, 1000, BODY, header, now=1300)
    assert verify(SECRET, MSG_ID, 1000, BODY, header, now=700)
    assert not verify(SECRET, MSG_ID, 1000, BODY, header, now=1301)
    assert not verify(SECRET, MSG_ID, 1000, BODY, header, now=699)
    assert verify(SECRET, MSG_ID, 1000, BODY, header, now=2000, tolerance_seconds=1000)
