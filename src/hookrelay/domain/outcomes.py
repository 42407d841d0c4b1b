"""Classify one delivery attempt: did it work, is it worth retrying, or is it final?

The rules are the contract in SPEC §5 "Outcomes and retries", kept in one pure function so
the dispatcher, the CLI session and the tests all agree on them:

* 2xx → SUCCESS.
* 3xx (redirects are not followed), 1xx, 5xx and codes >= 600 → RETRY.
* 408, 409, 425, 429 (the receiver says "not now") → RETRY.
* 410 Gone (the receiver says the URL is gone for good) → GONE: the endpoint gets disabled.
* any other 4xx (the receiver refuses this message) → DEAD_REJECTED, or RETRY if ``retry_4xx``.
* a transport error (timeout, connection, TLS, ...) → RETRY.

Also here: :func:`parse_retry_after`, because whether an answer carries a usable
``Retry-After`` is part of reading the answer, not of scheduling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from enum import StrEnum

__all__ = [
    "RETRYABLE_4XX",
    "AttemptResult",
    "Outcome",
    "TransportError",
    "classify",
    "parse_retry_after",
]

#: 4xx answers that mean "not now" rather than "never": timeout, conflict, too early,
#: too many requests.
RETRYABLE_4XX: frozenset[int] = frozenset({408, 409, 425, 429})
_GONE = 410
#: Retry-After values beyond this are clamped: the retry policy caps them far lower anyway,
#: and an absurd header must not overflow ``timedelta``.
MAX_RETRY_AFTER = timedelta(days=365)
_MAX_RETRY_AFTER_SECONDS = int(MAX_RETRY_AFTER.total_seconds())
_DELTA_SECONDS = re.compile(r"-?[0-9]+")


class Outcome(StrEnum):
    """What one attempt means for its delivery (and for the endpoint)."""

    SUCCESS = "success"
    RETRY = "retry"
    DEAD_REJECTED = "rejected"
    GONE = "gone"

    @property
    def is_success(self) -> bool:
        """True only for SUCCESS; everything else counts as a failed attempt."""
        return self is Outcome.SUCCESS


class TransportError(StrEnum):
    """Why an attempt got no HTTP answer at all. Every kind is retried: the network heals."""

    TIMEOUT = "timeout"  # no complete answer within HOOKRELAY_DELIVERY_TIMEOUT
    CONNECTION = "connection"  # refused, reset, unreachable
    DNS = "dns"  # the host name did not resolve
    TLS = "tls"  # handshake or certificate failure
    BLOCKED = "blocked"  # refused at connect time by the SSRF guard (e.g. DNS rebinding)
    PROTOCOL = "protocol"  # the peer spoke broken HTTP
    OTHER = "other"  # anything else the HTTP client raised


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """Either the HTTP status the receiver answered, or the transport error that prevented one.

    Build it with :meth:`http` or :meth:`failed`; exactly one field is set.
    """

    status: int | None = None
    error: TransportError | None = None

    def __post_init__(self) -> None:
        if (self.status is None) == (self.error is None):
            raise ValueError("an attempt result has either a status or a transport error")
        if self.status is not None:
            if isinstance(self.status, bool) or not isinstance(self.status, int):
                raise TypeError("status must be an int")
            if not 100 <= self.status <= 999:
                raise ValueError(f"{self.status} is not an HTTP status code")
        if self.error is not None:
            # Accept the plain string ("timeout") but fail loudly on a typo.
            object.__setattr__(self, "error", TransportError(self.error))

    @classmethod
    def http(cls, status: int) -> AttemptResult:
        """The receiver answered with ``status``."""
        return cls(status=status)

    @classmethod
    def failed(cls, error: TransportError | str) -> AttemptResult:
        """No answer: the request failed with transport error ``error``."""
        return cls(error=TransportError(error))


def classify(result: AttemptResult, *, retry_4xx: bool = False) -> Outcome:
    """Map one attempt's result to its :class:`Outcome` (see the module table).

    ``retry_4xx`` is ``HOOKRELAY_RETRY_4XX``: it turns "rejected" 4xx answers into retries for
    operators whose receivers misuse 4xx for transient trouble. 410 stays GONE regardless,
    because it is an explicit statement about the endpoint, not about this message.
    """
    status = result.status
    if status is None:
        return Outcome.RETRY
    if 200 <= status <= 299:
        return Outcome.SUCCESS
    if status == _GONE:
        return Outcome.GONE
    if 400 <= status <= 499 and status not in RETRYABLE_4XX:
        return Outcome.RETRY if retry_4xx else Outcome.DEAD_REJECTED
    return Outcome.RETRY


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """Read a ``Retry-After`` header value as a delay from ``now``.

    Accepts delta-seconds (``"120"``) and HTTP-dates (``"Wed, 21 Oct 2026 07:28:00 GMT"``).
    Returns None when the header is absent or unreadable, so a broken header behaves like
    no header. A date in the past and a negative number both mean "now" (``timedelta(0)``).

    Raises:
        ValueError: ``now`` is naive; comparing it with an HTTP-date needs a time zone.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if _DELTA_SECONDS.fullmatch(text):
        if text.startswith("-") or text.strip("0") == "":
            return timedelta(0)
        # Compare lengths before int(): Python refuses to parse ints of thousands of digits.
        seconds = int(text) if len(text) <= 15 else _MAX_RETRY_AFTER_SECONDS
        return timedelta(seconds=min(seconds, _MAX_RETRY_AFTER_SECONDS))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:  # older Pythons return None instead of raising
        return None
    if when.tzinfo is None:
        # asctime dates and "-0000" carry no zone; HTTP-dates are always GMT.
        when = when.replace(tzinfo=timezone.utc)
    delay = when - now
    if delay <= timedelta(0):
        return timedelta(0)
    return min(delay, MAX_RETRY_AFTER)
