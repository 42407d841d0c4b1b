"""The HTTP client that sends webhook attempts: one per worker process (event loop).

One connection pool for every endpoint, so keep-alive connections are reused across
deliveries and many requests are in flight at once (ARCHITECTURE rule 4). No proxy is read
from the environment: it would bypass the SSRF pin. Three transports, chosen by measurement
(``python -m hookrelay.delivery.bench_transport``):

* ``"http1"`` (default): hookrelay's own HTTP/1.1 pool on asyncio transports, with httptools
  parsing the answers (``delivery.http1``). It resolves names itself and connects only to
  the addresses it checked. A worker's CPU per delivery went mostly to aiohttp's request
  machinery; this costs about a third of aiohttp's CPU per POST.
* ``"aiohttp"``: an aiohttp session used directly, whose resolver is the SSRF guard, so the
  address checked is the address connected to. Kept as the fallback should a receiver need
  something ``http1`` leaves out. (httpx's models on top of aiohttp, the ``httpx-aiohttp``
  transport, cost more than half of the client's CPU and were dropped.)
* ``"httpcore"``: httpx with its own transport, several times slower at high concurrency
  (encode/httpx#3215). It is what respx mocks, so the unit tests of attempt classification
  use it; the SSRF check is a pre-check there.

All end in the same :class:`SendResult`, classified by ``failures`` from whatever the
library raised. No redirect is followed (SPEC §5) and no cookie is kept between deliveries.

:meth:`DeliveryClient.send` never raises for anything the network or the receiver does:
every attempt ends as a :class:`SendResult` the dispatcher can record and classify.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Literal, Protocol

import aiohttp
import certifi
import httpx
import yarl

from hookrelay.delivery.failures import classify_exception, describe_exception
from hookrelay.delivery.http1 import Http1Pool, Http1Response, Http1Target
from hookrelay.delivery.request import WebhookRequest
from hookrelay.delivery.slots import ConnectionSlots
from hookrelay.delivery.ssrf import GuardedResolver, ip_literal, target_problem
from hookrelay.domain.outcomes import AttemptResult, TransportError

if TYPE_CHECKING:
    from hookrelay.settings import Settings

__all__ = ["RESPONSE_BODY_LIMIT", "DeliveryClient", "SendResult", "TransportName"]

TransportName = Literal["http1", "aiohttp", "httpcore"]
#: Response bodies are kept up to 4 KiB (SPEC §5 "Delivery log"); we read no further.
RESPONSE_BODY_LIMIT = 4096
#: Parsed endpoint URLs kept per client; endpoint URLs repeat, and parsing one is a visible cost.
_URL_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class SendResult:
    """What one attempt produced: an HTTP answer (``status``) or a transport ``error``.

    ``body`` is the first :data:`RESPONSE_BODY_LIMIT` bytes decoded as text (undecodable bytes
    and NULs, which PostgreSQL text columns refuse, become U+FFFD). ``error_message`` may
    accompany a status when the answer arrived but its body could not be read to the end;
    the attempt is still judged by its status.
    """

    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    duration_ms: float = 0.0
    error: TransportError | None = None
    error_message: str | None = None
    body_truncated: bool = False

    @property
    def attempt_result(self) -> AttemptResult:
        """The input of ``domain.outcomes.classify``."""
        if self.status is not None:
            return AttemptResult.http(self.status)
        return AttemptResult.failed(self.error or TransportError.OTHER)


# Compressed answers would cost CPU to decode, and a small gzip bomb would expand in memory
# before our 4 KiB cap applies.
_FIXED_HEADERS = (("accept-encoding", "identity"),)


@dataclass(frozen=True, slots=True)
class _Target:
    """An endpoint URL parsed once: what the slots, the guard and the transport need."""

    url: Http1Target | httpx.URL | yarl.URL
    host: str
    host_key: tuple[str, str, int]


class _Answer(Protocol):
    """A response whose head has arrived; the body is read by :meth:`read_capped`."""

    status: int

    def header_dict(self) -> dict[str, str]: ...

    def charset(self) -> str | None: ...

    async def read_capped(self, limit: int, deadline: float) -> tuple[bytes, bool]: ...

    async def close(self) -> None: ...


class DeliveryClient:
    """Sends :class:`WebhookRequest` objects; create one per event loop and reuse it.

    ``max_connections`` / ``max_per_host`` cap requests in flight (see ``slots``); the pool
    is sized to the same numbers, so no request waits for a connection inside its timeout.
    """

    def __init__(
        self,
        *,
        timeout: float | timedelta = 15.0,
        allow_private_targets: bool = False,
        transport: TransportName = "http1",
        max_connections: int = 256,
        max_per_host: int = 64,
        keepalive_expiry: float = 15.0,
    ) -> None:
        if isinstance(timeout, timedelta):
            timeout = timeout.total_seconds()
        if timeout <= 0:
            raise ValueError("the delivery timeout must be positive")
        if transport not in ("http1", "aiohttp", "httpcore"):
            raise ValueError(f"unknown transport {transport!r}: use 'http1', 'aiohttp' or 'httpcore'")
        self.timeout = float(timeout)
        self.allow_private_targets = allow_private_targets
        self.transport: TransportName = transport
        self._slots = ConnectionSlots(total=max_connections, per_host=max_per_host)
        if transport == "http1":
            self._exchange: _Http1Exchange | _AiohttpExchange | _HttpxExchange = _Http1Exchange(
                self._slots, keepalive_expiry, allow_private=allow_private_targets
            )
        elif transport == "aiohttp":
            self._exchange = _AiohttpExchange(self._slots, keepalive_expiry, allow_private=allow_private_targets)
        else:
            self._exchange = _HttpxExchange(self._slots, keepalive_expiry, self.timeout)
        self._targets: dict[str, _Target] = {}

    @classmethod
    def from_settings(cls, settings: Settings, **options: object) -> DeliveryClient:
        """Build a client from ``HOOKRELAY_DELIVERY_TIMEOUT``, ``..._TRANSPORT`` and
        ``HOOKRELAY_ALLOW_PRIVATE_TARGETS``; ``options`` override."""
        options.setdefault("transport", settings.delivery_transport)
        return cls(
            timeout=settings.delivery_timeout,
            allow_private_targets=settings.allow_private_targets,
            **options,  # type: ignore[arg-type]
        )

    async def __aenter__(self) -> DeliveryClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._exchange.aclose()

    async def send(self, request: WebhookRequest) -> SendResult:
        """POST ``request`` once and report what happened; never raises for network trouble.

        The timeout covers resolution, connecting, sending and reading the response head;
        the (at most 4 KiB) body read gets what is left of it. Cancellation still propagates.
        """
        try:
            target = self._target(request.url)
        except Exception as exc:  # noqa: BLE001 - a bad stored URL is this attempt's failure
            return _failure(TransportError.OTHER, f"invalid URL: {exc}", 0.0)
        async with self._slots.hold(target.host_key):
            return await self._send_now(request, target)

    def _target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is None:
            if len(self._targets) >= _URL_CACHE_SIZE:
                self._targets.clear()
            target = self._targets[url] = self._parse(url)
        return target

    def _parse(self, url: str) -> _Target:
        parsed = httpx.URL(url)  # validates the scheme, host and port for both transports
        if parsed.scheme not in ("http", "https"):
            raise ValueError(f"unsupported scheme {parsed.scheme!r}")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        transport_url: Http1Target | httpx.URL | yarl.URL = parsed
        if self.transport == "http1":
            host = parsed.raw_host.decode("ascii")  # IDNA-encoded, as DNS and the Host header want it
            transport_url = Http1Target.build(
                scheme=parsed.scheme, host=host, port=port, raw_path=parsed.raw_path, literal=ip_literal(host)
            )
        elif self.transport == "aiohttp":
            transport_url = yarl.URL(str(parsed), encoded=True)
        return _Target(transport_url, parsed.host, (parsed.scheme, parsed.host, port))

    async def _send_now(self, request: WebhookRequest, target: _Target) -> SendResult:
        started = time.perf_counter()
        deadline = asyncio.get_running_loop().time() + self.timeout
        try:
            problem = await self._guard(target, deadline)
            if problem is not None:
                message = f"refused by the SSRF guard: {target.host}: {problem}"
                return _failure(TransportError.BLOCKED, message, _elapsed_ms(started))
            answer = await self._exchange.start(target.url, request, deadline)
        except TimeoutError:
            message = f"no response within {self.timeout:g}s"
            return _failure(TransportError.TIMEOUT, message, _elapsed_ms(started))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a recorded attempt
            kind = classify_exception(exc)
            message = describe_exception(exc)
            if kind is TransportError.DNS:  # the resolver's message does not name the host
                message = f"{target.host} did not resolve: {message}"
            return _failure(kind, message, _elapsed_ms(started))
        return await self._finish(answer, started, deadline)

    async def _guard(self, target: _Target, deadline: float) -> str | None:
        if self.allow_private_targets:
            return None
        if self.transport != "httpcore":
            # IP literals are judged here; names are judged where the transport connects (the
            # http1 pool, aiohttp's resolver), so no I/O happens here.
            return await target_problem(target.host, target.host_key[2], resolve=False)
        # httpcore resolves on its own, so there the name is resolved and judged first.
        async with asyncio.timeout_at(deadline):
            return await target_problem(target.host, target.host_key[2], resolve=True)

    async def _finish(self, answer: _Answer, started: float, deadline: float) -> SendResult:
        received, truncated, body_error = b"", False, None
        try:
            received, truncated = await answer.read_capped(RESPONSE_BODY_LIMIT, deadline)
        except TimeoutError:
            body_error = "response body not complete within the timeout"
        except Exception as exc:  # noqa: BLE001 - the status already arrived; keep it
            body_error = f"reading the response body failed: {describe_exception(exc)}"
        finally:
            with contextlib.suppress(Exception):
                await answer.close()  # closes (not reuses) a connection left mid-body
        return SendResult(
            status=answer.status,
            headers=answer.header_dict(),
            body=_decode(received, answer.charset()),
            duration_ms=_elapsed_ms(started),
            error_message=body_error,
            body_truncated=truncated,
        )


# --- http1 (hookrelay.delivery.http1) -----------------------------------------------------


class _Http1Answer:
    __slots__ = ("_connection", "_key", "_pool", "_response", "status")

    def __init__(self, pool: Http1Pool, connection, response: Http1Response, key) -> None:
        self._pool, self._connection, self._response, self._key = pool, connection, response, key
        self.status = response.status

    def header_dict(self) -> dict[str, str]:
        return _joined_lowercase((_header_text(name), _header_text(value)) for name, value in self._response.raw_headers)

    def charset(self) -> str | None:
        for name, value in self._response.raw_headers:
            if name.lower() == b"content-type":
                return _charset_parameter(_header_text(value))
        return None

    async def read_capped(self, limit: int, deadline: float) -> tuple[bytes, bool]:
        response = self._response
        await response.done  # the pool's timer ends it at the deadline
        return bytes(response.body[:limit]), response.truncated

    async def close(self) -> None:
        self._pool.finish(self._connection, self._response, self._key)


class _Http1Exchange:
    """POSTs through hookrelay's own HTTP/1.1 pool, which pins the SSRF check at connect time."""

    def __init__(self, slots: ConnectionSlots, keepalive_expiry: float, *, allow_private: bool) -> None:
        self._pool = Http1Pool(
            ssl_context=ssl.create_default_context(cafile=certifi.where()),
            keepalive_expiry=keepalive_expiry,
            max_idle_per_host=slots.per_host,
            allow_private=allow_private,
        )

    async def start(self, target: Http1Target, request: WebhookRequest, deadline: float) -> _Http1Answer:
        connection, response = await self._pool.post(
            target, request.headers, request.body, RESPONSE_BODY_LIMIT, deadline
        )
        return _Http1Answer(self._pool, connection, response, target.key)

    async def aclose(self) -> None:
        await self._pool.aclose()


def _charset_parameter(content_type: str) -> str | None:
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"') or None
    return None


# --- aiohttp ------------------------------------------------------------------------------


class _AiohttpAnswer:
    __slots__ = ("_response", "status")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status

    def header_dict(self) -> dict[str, str]:
        return _joined_lowercase(
            (_header_text(name), _header_text(value)) for name, value in self._response.raw_headers
        )

    def charset(self) -> str | None:
        try:
            return self._response.charset
        except Exception:  # noqa: BLE001 - a malformed Content-Type: fall back to UTF-8
            return None

    async def read_capped(self, limit: int, deadline: float) -> tuple[bytes, bool]:
        content = self._response.content
        received = bytearray()
        async with asyncio.timeout_at(deadline):
            while len(received) <= limit:
                chunk = await content.read(limit + 1 - len(received))
                if not chunk:
                    return bytes(received), False
                received += chunk
        return bytes(received[:limit]), True

    async def close(self) -> None:
        response = self._response
        if response.content.is_eof():
            response.release()  # the connection goes back to the pool
        else:
            response.close()  # a body left unread: this connection cannot be reused


class _AiohttpExchange:
    """POSTs through one aiohttp session, created on first use inside the running loop."""

    def __init__(self, slots: ConnectionSlots, keepalive_expiry: float, *, allow_private: bool) -> None:
        self._limits = (slots.total, slots.per_host)
        self._keepalive_expiry = keepalive_expiry
        self._resolver = GuardedResolver(allow_private=allow_private)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        total, per_host = self._limits
        connector = aiohttp.TCPConnector(
            limit=total,
            limit_per_host=per_host,
            resolver=self._resolver,
            keepalive_timeout=self._keepalive_expiry,
            ssl=ssl.create_default_context(cafile=certifi.where()),
        )
        # The timeout is the client's own deadline (asyncio.timeout_at in start and read_capped),
        # not aiohttp's.
        return aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            timeout=aiohttp.ClientTimeout(total=None, connect=None, sock_read=None, sock_connect=None),
            auto_decompress=False,
            skip_auto_headers=("Accept",),
        )

    async def start(self, url: yarl.URL, request: WebhookRequest, deadline: float) -> _AiohttpAnswer:
        session = self._session
        if session is None:
            session = self._session = self._open()
        async with asyncio.timeout_at(deadline):
            response = await session.request(
                "POST", url, data=request.body, headers=[*_FIXED_HEADERS, *request.headers], allow_redirects=False
            )
        return _AiohttpAnswer(response)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


# --- httpx over httpcore --------------------------------------------------------------------


class _HttpxAnswer:
    __slots__ = ("_response", "status")

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status = response.status_code

    def header_dict(self) -> dict[str, str]:
        return dict(self._response.headers.items())

    def charset(self) -> str | None:
        return self._response.charset_encoding

    async def read_capped(self, limit: int, deadline: float) -> tuple[bytes, bool]:
        received = bytearray()
        async with asyncio.timeout_at(deadline):
            async for chunk in self._response.aiter_bytes():
                received += chunk
                if len(received) > limit:
                    return bytes(received[:limit]), True
        return bytes(received), False

    async def close(self) -> None:
        await self._response.aclose()


class _HttpxExchange:
    """POSTs through httpx's own transport, which respx can mock."""

    def __init__(self, slots: ConnectionSlots, keepalive_expiry: float, timeout: float) -> None:
        limits = httpx.Limits(
            max_connections=slots.total, max_keepalive_connections=slots.total, keepalive_expiry=keepalive_expiry
        )
        self._transport = httpx.AsyncHTTPTransport(limits=limits, trust_env=False, retries=0)
        self._timeout_extension = httpx.Timeout(timeout).as_dict()

    async def start(self, url: httpx.URL, request: WebhookRequest, deadline: float) -> _HttpxAnswer:
        outgoing = httpx.Request(
            "POST", url, content=request.body, headers=[*_FIXED_HEADERS, *request.headers],
            extensions={"timeout": self._timeout_extension},
        )
        async with asyncio.timeout_at(deadline):
            return _HttpxAnswer(await self._transport.handle_async_request(outgoing))

    async def aclose(self) -> None:
        await self._transport.aclose()


# --- shared -------------------------------------------------------------------------------


def _joined_lowercase(pairs) -> dict[str, str]:
    """Header names lowercased, repeated headers joined with ", " (as httpx presents them)."""
    headers: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def _header_text(raw: bytes) -> str:
    """UTF-8 when it is (as httpx reads headers, so both transports store the same text), else
    Latin-1, which decodes any byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _decode(data: bytes, charset: str | None) -> str:
    try:
        text = data.decode(charset or "utf-8", errors="replace")
    except LookupError:  # an unknown charset named by the receiver
        text = data.decode("utf-8", errors="replace")
    return text.replace("\x00", "\ufffd")


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 3)


def _failure(kind: TransportError, message: str, duration_ms: float) -> SendResult:
    return SendResult(status=None, duration_ms=duration_ms, error=kind, error_message=message)
