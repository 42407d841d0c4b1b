"""The exact HTTP request a receiver gets for one delivery attempt (SPEC §5).

Two things here are contracts with every merchant's code, so they live in one place:

* **The body bytes.** :func:`encode_event_body` turns an event into
  ``{"id","type","created_at","data"}`` as compact JSON. The envelope keeps that field order
  and every object inside ``data`` has its keys sorted (msgspec ``order="deterministic"``),
  so the bytes depend only on the event's *values*: an event re-read from a JSON column that
  reorders keys (PostgreSQL ``jsonb`` does) still encodes to the same bytes. SPEC promises the
  exact same body on every attempt; callers should still store the bytes once and reuse
  them, which also saves re-encoding on every retry.
* **The headers.** The Standard Webhooks headers plus ours, in a fixed order. An endpoint's
  custom headers are appended but can never replace one of ours (compared case-insensitively),
  and headers that describe the connection or the body framing (``host``,
  ``content-length``, ``transfer-encoding``, ...) are dropped: the HTTP client owns those, and
  a customer-supplied value would corrupt the request or smuggle a second one.

What is stored in the attempt log (:func:`redacted_headers`): signatures are kept as sent.
An HMAC output does not reveal its key, and a merchant debugging "signature mismatch" needs
the exact value. The *secret* never appears in a header, so there is nothing of ours to hide;
what can hold a secret is a *custom* header (endpoints carry receiver credentials there, as
URLs may not), so custom headers whose name looks like a credential have their value
replaced by ``<redacted>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import msgspec

from hookrelay.domain.signing import signature_header

__all__ = [
    "DROPPED_HEADERS",
    "REDACTED",
    "RESERVED_HEADERS",
    "WebhookRequest",
    "build_webhook_request",
    "custom_header_problem",
    "encode_event_body",
    "redacted_headers",
]

Headers = tuple[tuple[str, str], ...]

#: Headers hookrelay sets on every request; a custom header can never replace one of these.
RESERVED_HEADERS: frozenset[str] = frozenset(
    {
        "content-type",
        "user-agent",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "idempotency-key",
        "hookrelay-delivery-id",
        "hookrelay-attempt",
        "hookrelay-event-type",
    }
)

#: Hop-by-hop and framing headers: the HTTP client computes them, a custom value would
#: break the request (wrong length, chunked body, a different virtual host, an upgrade).
DROPPED_HEADERS: frozenset[str] = frozenset(
    {
        "host",
        "content-length",
        "content-encoding",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "upgrade",
        "expect",
    }
)

REDACTED = "<redacted>"
# RFC 9110 token characters: anything else in a name is refused by HTTP clients or worse,
# accepted and sent as garbage.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# CR/LF would let a header value start a new header (or a new request); NUL is never valid.
_BAD_VALUE = re.compile(r"[\r\n\x00]")
_SENSITIVE_NAME = re.compile(
    r"auth|token|secret|passw|key|cookie|credential|session|signature", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """One attempt's request: POST ``body`` to ``url`` with ``headers`` (wire order).

    ``headers`` is a tuple of ``(name, value)`` pairs rather than a dict so that the object is
    truly immutable and the order on the wire is the order here.
    """

    url: str
    headers: Headers
    body: bytes

    def header(self, name: str) -> str | None:
        """Return the value of header ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def headers_dict(self) -> dict[str, str]:
        """The headers as a dict (names are unique, so nothing is lost)."""
        return dict(self.headers)


class _EventEnvelope(msgspec.Struct):
    """The body's top level; a Struct so the field order is fixed by this declaration."""

    id: str
    type: str
    created_at: str
    data: object


def encode_event_body(*, event_id: str, event_type: str, created_at: str, data: object) -> bytes:
    """Return the webhook body: compact JSON, identical bytes for identical values.

    Store the result with the event and send those bytes on every attempt; signatures are
    computed over them.
    """
    envelope = _EventEnvelope(id=event_id, type=event_type, created_at=created_at, data=data)
    return msgspec.json.encode(envelope, order="deterministic")


def custom_header_problem(name: object, value: object) -> str | None:
    """Return why an endpoint's custom header is unusable, or None if it will be sent.

    The endpoint API can call this to refuse bad headers with a 422 when they are saved;
    :func:`build_webhook_request` silently skips the same headers so that a bad row can never
    break or subvert a delivery.
    """
    if not isinstance(name, str) or not _TOKEN.fullmatch(name):
        return f"header name {name!r} is not a valid HTTP token"
    if not isinstance(value, str):
        return f"header {name!r} must have a string value"
    if _BAD_VALUE.search(value):
        return f"header {name!r} contains a line break or NUL character"
    lowered = name.lower()
    if lowered in RESERVED_HEADERS:
        return f"header {name!r} is set by hookrelay and cannot be overridden"
    if lowered in DROPPED_HEADERS:
        return f"header {name!r} is managed by the HTTP client and cannot be set"
    return None


def build_webhook_request(
    *,
    url: str,
    event_id: str,
    event_type: str,
    event_created_at: str,
    data: object,
    delivery_id: str,
    attempt: int,
    secrets: list[str],
    timestamp: int,
    custom_headers: Mapping[str, str] | None,
    version: str,
    body: bytes | None = None,
) -> WebhookRequest:
    """Build the signed request for attempt number ``attempt`` of one delivery.

    ``timestamp`` is this attempt's unix time (it is signed, so it must be fresh on every
    attempt and redelivery); ``secrets`` are the endpoint's valid secrets, current first.
    Pass ``body`` (the stored output of :func:`encode_event_body`) to send stored bytes
    as they are; otherwise the body is encoded from the event fields.

    Raises:
        ValueError: no secret, or an invalid one (from :func:`signature_header`).
    """
    if body is None:
        body = encode_event_body(
            event_id=event_id, event_type=event_type, created_at=event_created_at, data=data
        )
    headers: list[tuple[str, str]] = [
        ("content-type", "application/json"),
        ("user-agent", f"hookrelay/{version}"),
        ("webhook-id", event_id),
        ("webhook-timestamp", str(timestamp)),
        ("webhook-signature", signature_header(secrets, event_id, timestamp, body)),
        ("idempotency-key", event_id),
        ("hookrelay-delivery-id", delivery_id),
        ("hookrelay-attempt", str(attempt)),
        ("hookrelay-event-type", event_type),
    ]
    if custom_headers:
        headers.extend(_usable_custom_headers(custom_headers))
    return WebhookRequest(url=url, headers=tuple(headers), body=body)


def _usable_custom_headers(custom: Mapping[str, str]) -> Iterable[tuple[str, str]]:
    seen: set[str] = set()
    for name, value in custom.items():
        if custom_header_problem(name, value) is not None:
            continue
        lowered = name.lower()
        if lowered in seen:  # {"X-A": 1, "x-a": 2}: the first one wins, deterministically
            continue
        seen.add(lowered)
        yield name, value


def redacted_headers(headers: Iterable[tuple[str, str]] | Mapping[str, str]) -> dict[str, str]:
    """Return request headers as they may be stored in the attempt log.

    hookrelay's own headers (signatures included, see the module docstring) are kept as
    sent; custom headers whose name suggests a credential (``authorization``, ``x-api-key``,
    ``x-auth-token``, ``cookie``, ...) get the value ``<redacted>``.
    """
    stored = dict(headers)
    for name in stored:
        # hookrelay's own names are looked up as they are first: a worker stores every
        # attempt's headers, and lowering each name cost more than the rest of this.
        if name not in RESERVED_HEADERS and _SENSITIVE_NAME.search(name) and name.lower() not in RESERVED_HEADERS:
            stored[name] = REDACTED
    return stored
