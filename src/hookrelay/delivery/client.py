"""The HTTP client that sends webhook attempts: one per worker process (event loop).

One httpx transport holds one connection pool for every endpoint, so keep-alive connections
are reused across deliveries and many requests are in flight at once (ARCHITECTURE rule 4).
Requests go to the transport directly: an ``httpx.AsyncClient``'s layers (auth, redirects,
cookies, default headers) do nothing for a webhook (no redirect is followed, SPEC §5; no
cookie is kept between deliveries) and cost about a tenth of a worker's CPU on ``make bench``.
No proxy is read from the environment: it would bypass the SSRF pin. httpx is the interface
(respx can mock it in tests); the transport underneath is chosen by measurement, see
``bench_transport``:

* ``"aiohttp"`` (default): ``httpx_aiohttp.AiohttpTransport`` over an aiohttp session whose
  resolver is the SSRF guard, so the address checked is the address connected to.
* ``"httpcore"``: httpx's own transport, several times slower at high concurrency
  (encode/httpx#3215); kept for comparison and tests. The SSRF check is a pre-check there.

:meth:`DeliveryClient.send` never raises for anything the network or the receiver does:
every attempt ends as a :class:`SendResult` the dispatcher can record and classify.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from hookrelay.delivery.failures import classify_exception, describe_exception
from hookrelay.delivery.request import WebhookRequest
from hookrelay.delivery.slots import ConnectionSlots
from hookrelay.delivery.ssrf import GuardedResolver, target_problem
from hookrelay.domain.outcomes import AttemptResult, TransportError

if TYPE_CHECKING:
    from hookrelay.settings import Settings

__all__ = ["RESPONSE_BODY_LIMIT", "DeliveryClient", "SendResult", "TransportName"]

TransportName = Literal["aiohttp", "httpcore"]
#: Response bodies are kept up to 4 KiB (SPEC §5 "Delivery log"); we read no further.
RESPONSE_BODY_LIMIT = 4096


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
        transport: TransportName = "aiohttp",
        max_connections: int = 256,
        max_per_host: int = 64,
        keepalive_expiry: float = 15.0,
    ) -> None:
        if isinstance(timeout, timedelta):
            timeout = timeout.total_seconds()
        if timeout <= 0:
            raise ValueError("the delivery timeout must be positive")
        if transport not in ("aiohttp", "httpcore"):
            raise ValueError(f"unknown transport {transport!r}: use 'aiohttp' or 'httpcore'")
        self.timeout = float(timeout)
        self.allow_private_targets = allow_private_targets
        self.transport: TransportName = transport
        self._slots = ConnectionSlots(total=max_connections, per_host=max_per_host)
        self._transport = self._make_transport(keepalive_expiry)
        self._timeout_extension = httpx.Timeout(self.timeout).as_dict()
        self._urls: dict[str, httpx.URL] = {}

    @classmethod
    def from_settings(cls, settings: Settings, **options: object) -> DeliveryClient:
        """Build a client from ``HOOKRELAY_DELIVERY_TIMEOUT`` and ``..._ALLOW_PRIVATE_TARGETS``."""
        return cls(
            timeout=settings.delivery_timeout,
            allow_private_targets=settings.allow_private_targets,
            **options,  # type: ignore[arg-type]
        )

    def _make_transport(self, keepalive_expiry: float) -> httpx.AsyncBaseTransport:
        total, per_host = self._slots.total, self._slots.per_host
        if self.transport == "httpcore":
            limits = httpx.Limits(
                max_connections=total,
                max_keepalive_connections=total,
                keepalive_expiry=keepalive_expiry,
            )
            return httpx.AsyncHTTPTransport(limits=limits, trust_env=False, retries=0)
        resolver = GuardedResolver(allow_private=self.allow_private_targets)
        aiohttp_transport = AiohttpTransport(trust_env=False)

        def make_session() -> aiohttp.ClientSession:
            # Called by the transport on its first request, inside the running loop, which
            # aiohttp requires; the TLS context is the one httpx would use (certifi).
            connector = aiohttp.TCPConnector(
                limit=total,
                limit_per_host=per_host,
                resolver=resolver,
                keepalive_timeout=keepalive_expiry,
                ssl=aiohttp_transport.ssl_context,
            )
            return aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False
            )

        aiohttp_transport.client = make_session
        return aiohttp_transport

    async def __aenter__(self) -> DeliveryClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._transport.aclose()

    async def send(self, request: WebhookRequest) -> SendResult:
        """POST ``request`` once and report what happened; never raises for network trouble.

        The timeout covers resolution, connecting, sending and reading the response head;
        the (at most 4 KiB) body read gets what is left of it. Cancellation still propagates.
        """
        try:
            url = self._parsed(request.url)
            host_key = (url.scheme, url.host, url.port)
        except Exception as exc:  # noqa: BLE001 - a bad stored URL is this attempt's failure
            return _failure(TransportError.OTHER, f"invalid URL: {exc}", 0.0)
        async with self._slots.hold(host_key):
            return await self._send_now(request, url)

    def _parsed(self, url: str) -> httpx.URL:
        """Endpoint URLs repeat, and parsing one (IDNA, IP checks) is a visible cost per send."""
        parsed = self._urls.get(url)
        if parsed is None:
            if len(self._urls) >= 10_000:
                self._urls.clear()
            parsed = self._urls[url] = httpx.URL(url)
        return parsed

    async def _send_now(self, request: WebhookRequest, url: httpx.URL) -> SendResult:
        started = time.perf_counter()
        deadline = asyncio.get_running_loop().time() + self.timeout
        try:
            async with asyncio.timeout_at(deadline):
                problem = await self._guard(url)
                if problem is not None:
                    message = f"refused by the SSRF guard: {url.host}: {problem}"
                    return _failure(TransportError.BLOCKED, message, _elapsed_ms(started))
                outgoing = httpx.Request(
                    "POST", url, content=request.body, headers=[*_FIXED_HEADERS, *request.headers],
                    extensions={"timeout": self._timeout_extension},
                )
                response = await self._transport.handle_async_request(outgoing)
        except TimeoutError:
            message = f"no response within {self.timeout:g}s"
            return _failure(TransportError.TIMEOUT, message, _elapsed_ms(started))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a recorded attempt
            kind = classify_exception(exc)
            message = describe_exception(exc)
            if kind is TransportError.DNS:  # the resolver's message does not name the host
                message = f"{url.host} did not resolve: {message}"
            return _failure(kind, message, _elapsed_ms(started))
        return await self._finish(response, started, deadline)

    async def _guard(self, url: httpx.URL) -> str | None:
        if self.allow_private_targets:
            return None
        port = url.port or (443 if url.scheme == "https" else 80)
        # aiohttp's resolver checks names at connect time; httpcore needs the pre-check.
        return await target_problem(url.host, port, resolve=self.transport == "httpcore")

    async def _finish(self, response: httpx.Response, started: float, deadline: float) -> SendResult:
        received = bytearray()
        truncated = False
        body_error: str | None = None
        try:
            async with asyncio.timeout_at(deadline):
                async for chunk in response.aiter_bytes():
                    received += chunk
                    if len(received) > RESPONSE_BODY_LIMIT:
                        truncated = True
                        break
        except TimeoutError:
            body_error = "response body not complete within the timeout"
        except Exception as exc:  # noqa: BLE001 - the status already arrived; keep it
            body_error = f"reading the response body failed: {describe_exception(exc)}"
        finally:
            with contextlib.suppress(Exception):
                await response.aclose()  # closes (not reuses) a connection left mid-body
        return SendResult(
            status=response.status_code,
            headers=dict(response.headers.items()),
            body=_decode(bytes(received[:RESPONSE_BODY_LIMIT]), response.charset_encoding),
            duration_ms=_elapsed_ms(started),
            error_message=body_error,
            body_truncated=truncated,
        )


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
