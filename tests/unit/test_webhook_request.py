"""The webhook request is a contract with every receiver: headers, body bytes, signatures."""

from __future__ import annotations

import base64
import json
import time

import pytest
import standardwebhooks.webhooks as std

from hookrelay.delivery.request import (
    REDACTED,
    WebhookRequest,
    build_webhook_request,
    custom_header_problem,
    encode_event_body,
    redacted_headers,
)

SECRET = "whsec_" + base64.b64encode(bytes(range(24))).decode()
OLD_SECRET = "whsec_" + base64.b64encode(bytes(range(100, 132))).decode()
DATA = {"job": {"id": "job_1", "status": "completed"}, "amount": 12.5, "note": "café ✓"}


def _build(**overrides: object) -> WebhookRequest:
    arguments: dict[str, object] = {
        "url": "https://hooks.example.com/in",
        "event_id": "evt_2fQb9",
        "event_type": "job.completed",
        "event_created_at": "2026-11-22T21:50:01.123Z",
        "data": DATA,
        "delivery_id": "dlv_7",
        "attempt": 2,
        "secrets": [SECRET],
        "timestamp": int(time.time()),
        "custom_headers": None,
        "version": "1.2.3",
    }
    arguments.update(overrides)
    return build_webhook_request(**arguments)  # type: ignore[arg-type]


def test_headers_are_exactly_the_spec_headers_in_order() -> None:
    request = _build(timestamp=1_700_000_000)
    names = [name for name, _ in request.headers]
    assert names == [
        "content-type",
        "user-agent",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "idempotency-key",
        "hookrelay-delivery-id",
        "hookrelay-attempt",
        "hookrelay-event-type",
    ]
    headers = request.headers_dict()
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "hookrelay/1.2.3"
    assert headers["webhook-id"] == "evt_2fQb9"
    assert headers["idempotency-key"] == "evt_2fQb9"
    assert headers["webhook-timestamp"] == "1700000000"
    assert headers["hookrelay-delivery-id"] == "dlv_7"
    assert headers["hookrelay-attempt"] == "2"
    assert headers["hookrelay-event-type"] == "job.completed"
    assert headers["webhook-signature"].startswith("v1,")
    assert " " not in headers["webhook-signature"]
    assert request.url == "https://hooks.example.com/in"
    assert request.header("Webhook-ID") == "evt_2fQb9"


def test_body_is_the_compact_envelope_with_the_event_fields() -> None:
    request = _build()
    assert request.body.startswith(b'{"id":"evt_2fQb9","type":"job.completed","created_at":')
    assert b" " not in request.body.replace("café ✓".encode(), b"")
    assert json.loads(request.body) == {
        "id": "evt_2fQb9",
        "type": "job.completed",
        "created_at": "2026-11-22T21:50:01.123Z",
        "data": DATA,
    }


def test_body_bytes_are_stable_across_attempts_and_key_order() -> None:
    first = _build(attempt=1, timestamp=1_700_000_000, delivery_id="dlv_a")
    later = _build(attempt=4, timestamp=1_700_099_999, delivery_id="dlv_b")
    assert first.body == later.body
    # The same values with keys in another order (a jsonb round trip) give the same bytes.
    reordered = {"note": DATA["note"], "amount": 12.5, "job": {"status": "completed", "id": "job_1"}}
    assert _build(data=reordered).body == first.body
    assert encode_event_body(
        event_id="evt_2fQb9",
        event_type="job.completed",
        created_at="2026-11-22T21:50:01.123Z",
        data=DATA,
    ) == first.body


def test_stored_body_bytes_are_sent_as_they_are() -> None:
    stored = b'{"id":"evt_2fQb9","type":"job.completed","created_at":"x","data":{"b":1,"a":2}}'
    request = _build(body=stored)
    assert request.body == stored
    std.Webhook(SECRET).verify(request.body, request.headers_dict())


def test_signature_verifies_with_standardwebhooks() -> None:
    request = _build()
    payload = std.Webhook(SECRET).verify(request.body, request.headers_dict())
    assert payload["data"] == DATA


def test_a_tampered_body_does_not_verify() -> None:
    request = _build()
    with pytest.raises(std.WebhookVerificationError):
        std.Webhook(SECRET).verify(request.body.replace(b"12.5", b"99.5"), request.headers_dict())


def test_two_secrets_give_two_signatures_each_verifying() -> None:
    request = _build(secrets=[SECRET, OLD_SECRET])
    signatures = request.header("webhook-signature")
    assert signatures is not None and len(signatures.split(" ")) == 2
    for secret in (SECRET, OLD_SECRET):
        std.Webhook(secret).verify(request.body, request.headers_dict())
    other = "whsec_" + base64.b64encode(bytes(24)).decode()
    with pytest.raises(std.WebhookVerificationError):
        std.Webhook(other).verify(request.body, request.headers_dict())


def test_no_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        _build(secrets=[])


def test_custom_headers_are_added_but_cannot_override_ours() -> None:
    request = _build(
        custom_headers={
            "X-Tenant": "acme",
            "Webhook-Signature": "v1,forged",
            "WEBHOOK-ID": "evt_forged",
            "User-Agent": "curl/8",
            "Content-Type": "text/plain",
            "idempotency-key": "other",
            "HookRelay-Attempt": "99",
        }
    )
    headers = request.headers_dict()
    assert headers["X-Tenant"] == "acme"
    lowered = [name.lower() for name, _ in request.headers]
    assert len(lowered) == len(set(lowered)) == 10
    assert headers["webhook-id"] == "evt_2fQb9"
    assert headers["user-agent"] == "hookrelay/1.2.3"
    assert headers["content-type"] == "application/json"
    assert headers["hookrelay-attempt"] == "2"
    assert "forged" not in headers["webhook-signature"]
    std.Webhook(SECRET).verify(request.body, headers)


@pytest.mark.parametrize(
    "name",
    ["Host", "content-length", "Transfer-Encoding", "Connection", "Keep-Alive", "TE", "Upgrade",
     "Trailer", "Proxy-Authorization", "Expect", "Content-Encoding"],
)
def test_hop_by_hop_and_framing_headers_are_dropped(name: str) -> None:
    request = _build(custom_headers={name: "x", "X-Kept": "yes"})
    assert request.header(name) is None
    assert request.header("x-kept") == "yes"


def test_header_injection_and_invalid_names_are_dropped() -> None:
    request = _build(
        custom_headers={
            "X-Evil": "a\r\nX-Injected: 1",
            "Bad Name": "x",
            "X-Nul": "a\x00b",
            "X-Fine": "ok",
        }
    )
    names = {name for name, _ in request.headers}
    assert "X-Fine" in names
    assert not names & {"X-Evil", "Bad Name", "X-Nul", "X-Injected"}


def test_case_duplicates_among_custom_headers_keep_the_first() -> None:
    request = _build(custom_headers={"X-A": "first", "x-a": "second"})
    assert [value for name, value in request.headers if name.lower() == "x-a"] == ["first"]


def test_custom_header_problem_explains_refusals() -> None:
    assert custom_header_problem("X-Tenant", "acme") is None
    assert "hookrelay" in (custom_header_problem("webhook-id", "x") or "")
    assert "HTTP client" in (custom_header_problem("Host", "x") or "")
    assert "line break" in (custom_header_problem("X-A", "a\nb") or "")
    assert "token" in (custom_header_problem("X A", "b") or "")


def test_redacted_headers_keep_signatures_and_hide_custom_credentials() -> None:
    request = _build(
        custom_headers={
            "Authorization": "Bearer sk_live_1",
            "X-Api-Key": "k",
            "X-Auth-Token": "t",
            "Cookie": "s=1",
            "X-Tenant": "acme",
        }
    )
    stored = redacted_headers(request.headers)
    assert stored["webhook-signature"] == request.header("webhook-signature")
    assert stored["idempotency-key"] == "evt_2fQb9"
    assert stored["X-Tenant"] == "acme"
    for name in ("Authorization", "X-Api-Key", "X-Auth-Token", "Cookie"):
        assert stored[name] == REDACTED
    assert SECRET not in json.dumps(stored)
    assert redacted_headers({"Authorization": "x"}) == {"Authorization": REDACTED}
