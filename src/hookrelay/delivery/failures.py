"""Turn whatever the HTTP stack raised into a :class:`TransportError` kind and a short message.

Why not simply ``isinstance(exc, httpx.ConnectTimeout)``: the two transports (aiohttp and
httpx over httpcore) report the same failure with different exception types, and each wraps
the cause differently. So we walk the chain from the innermost exception outwards and take
the first one we recognise: the innermost is the most specific (``socket.gaierror`` under a
DNS error, ``ssl.SSLCertVerificationError`` under a connect error, ``ConnectionRefusedError``
under aiohttp's ``ClientConnectorError``).
"""

from __future__ import annotations

import asyncio
import socket
import ssl

import aiohttp
import httpcore
import httptools
import httpx

from hookrelay.delivery.ssrf import BlockedTargetError
from hookrelay.domain.outcomes import TransportError

__all__ = ["MAX_MESSAGE_CHARS", "classify_exception", "describe_exception", "exception_chain"]

MAX_MESSAGE_CHARS = 500
_MAX_DEPTH = 16

_PROTOCOL_ERRORS: tuple[type[BaseException], ...] = (
    httpx.ProtocolError,
    httpx.DecodingError,
    httpcore.ProtocolError,
    aiohttp.ClientPayloadError,
    aiohttp.ClientResponseError,
    httptools.HttpParserError,
)
_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    httpx.NetworkError,
    httpcore.NetworkError,
    aiohttp.ClientConnectionError,
    OSError,
)


def exception_chain(exc: BaseException) -> list[BaseException]:
    """Return ``exc`` and its causes, outermost first.

    Follows ``__cause__`` (explicit ``raise ... from``); then an exception passed as the
    first argument (httpcore wraps that way, without chaining: ``ConnectError(gaierror(...))``);
    then the first member of an exception group (anyio's happy eyeballs raises one);
    then ``__context__``, unless it was suppressed.
    """
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < _MAX_DEPTH and current not in chain:
        chain.append(current)
        current = _inner(current)
    return chain


def _inner(exc: BaseException) -> BaseException | None:
    if exc.__cause__ is not None:
        return exc.__cause__
    if exc.args and isinstance(exc.args[0], BaseException):
        return exc.args[0]
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return exc.exceptions[0]
    if not exc.__suppress_context__:
        return exc.__context__
    return None


def _kind_of(exc: BaseException) -> TransportError | None:
    # Order matters: gaierror and SSLError are OSErrors, aiohttp's timeouts are
    # ClientConnectionErrors, so the specific tests come before the general ones.
    if isinstance(exc, BlockedTargetError):
        return TransportError.BLOCKED
    if isinstance(exc, (socket.gaierror, aiohttp.ClientConnectorDNSError)):
        return TransportError.DNS
    if isinstance(exc, (ssl.SSLError, ssl.CertificateError, aiohttp.ClientSSLError)):
        return TransportError.TLS
    if isinstance(exc, (TimeoutError, httpx.TimeoutException, httpcore.TimeoutException)):
        return TransportError.TIMEOUT
    if isinstance(exc, _PROTOCOL_ERRORS):
        return TransportError.PROTOCOL
    if isinstance(exc, _CONNECTION_ERRORS):
        return TransportError.CONNECTION
    return None


def classify_exception(exc: BaseException) -> TransportError:
    """Return the :class:`TransportError` kind for an exception raised while sending.

    A BLOCKED refusal anywhere in the chain wins (it is a decision, not an accident);
    otherwise the innermost recognised exception decides. Unrecognised → OTHER.
    """
    chain = exception_chain(exc)
    if any(isinstance(link, BlockedTargetError) for link in chain):
        return TransportError.BLOCKED
    for link in reversed(chain):
        if isinstance(link, asyncio.CancelledError):
            continue
        kind = _kind_of(link)
        if kind is not None:
            return kind
    return TransportError.OTHER


def describe_exception(exc: BaseException) -> str:
    """Return a one-line message for the attempt log, e.g. ``ConnectionRefusedError: ...``.

    Uses the innermost exception that has a message (the outer ones mostly repeat it or,
    as above, misname it), truncated to :data:`MAX_MESSAGE_CHARS`.
    """
    chain = exception_chain(exc)
    for link in reversed(chain):
        if isinstance(link, BlockedTargetError):
            return f"refused by the SSRF guard: {link}"[:MAX_MESSAGE_CHARS]
    for link in reversed(chain):
        text = str(link).strip()
        if text:
            return f"{type(link).__name__}: {text}"[:MAX_MESSAGE_CHARS]
    return type(exc).__name__
