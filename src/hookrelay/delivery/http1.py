"""A small HTTP/1.1 client that does one thing: POST a webhook and read the answer's head and
first few KiB.

Why not aiohttp, which it replaces as the default transport: a worker's CPU per delivery was
more than half aiohttp's request machinery (``bench.cpu_split``), and aiohttp itself costs
about 0.25 ms of CPU per POST where a connection pool on asyncio's transports with httptools
(the C parser uvicorn serves with) costs about 0.09 ms (``python -m
hookrelay.delivery.bench_transport``). The part that is hard to get right, parsing the
answer (chunked bodies, keep-alive rules, 1xx answers, malformed input), is httptools'.

What it does: one keep-alive pool per (scheme, host, port); TLS with SNI and the client's
certificate store; the SSRF pin: names are resolved here, the answer is checked, and only
checked addresses are connected to, so DNS cannot change between check and connect; a
reused connection that the server closed as the request went out, with no byte of an answer
back, is replaced once and the request sent again (the server most likely closed it for its
keep-alive timeout before reading the request; if it had read it, the receiver gets it twice,
which the ``webhook-id`` lets it recognise, and a webhook is at-least-once anyway); a body is
kept up to the caller's limit and the connection is closed rather than drained past it; an
answer followed by a second one stands, and the connection is dropped.

What it leaves out, on purpose: proxies (they would bypass the SSRF pin), redirects (never
followed, SPEC §5), cookies, compression (``accept-encoding: identity`` is sent), HTTP/2,
``Expect: 100-continue`` and pipelining (a connection carries one exchange at a time).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass

import httptools

from hookrelay.delivery import ssrf
from hookrelay.delivery.ssrf import BlockedTargetError
from hookrelay.domain.addresses import check_resolved

__all__ = ["ConnectionClosedEarly", "Http1Pool", "Http1Target", "Http1Response"]

# Idle connections older than this are dropped the next time the pool is swept.
_SWEEP_EVERY_SECONDS = 5.0


class SecondAnswer(Exception):
    """Raised inside httptools' callback when a complete answer is followed by another."""


class ConnectionClosedEarly(ConnectionError):
    """The server closed the connection before its answer was complete."""

    answered = False  # whether any byte of an answer had arrived


@dataclass(frozen=True, slots=True)
class Http1Target:
    """An endpoint URL as this client needs it, worked out once per URL."""

    host: str
    port: int
    tls: bool
    literal: str | None  # the host as an IP address, when it is one
    head: bytes  # the request line and Host header

    @classmethod
    def build(cls, *, scheme: str, host: str, port: int, raw_path: bytes, literal: str | None) -> Http1Target:
        tls = scheme == "https"
        host_header = f"[{host}]" if ":" in host else host
        if port != (443 if tls else 80):
            host_header = f"{host_header}:{port}"
        head = b"POST " + (raw_path or b"/") + b" HTTP/1.1\r\nhost: " + host_header.encode("ascii") + b"\r\n"
        return cls(host, port, tls, literal, head)

    @property
    def key(self) -> tuple[str, int, bool]:
        return self.host, self.port, self.tls


class Http1Response:
    """The answer to one request on one connection, filled in by httptools' callbacks."""

    __slots__ = ("parser", "status", "raw_headers", "head", "done", "body", "limit", "truncated",
                 "complete", "keep_alive", "answered", "timer", "_connection")

    def __init__(self, connection: _Connection, limit: int) -> None:
        loop = connection.loop
        self._connection = connection
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.head: asyncio.Future[None] = loop.create_future()
        self.done: asyncio.Future[None] = loop.create_future()  # body complete, or past the limit
        self.body = bytearray()
        self.limit = limit
        self.truncated = False
        self.complete = False  # the whole answer arrived, so the connection may be reused
        self.keep_alive = False
        self.answered = False  # some byte of an answer arrived
        self.timer: asyncio.TimerHandle | None = None

    # --- httptools callbacks
    def on_message_begin(self) -> None:
        if self.complete:  # a second answer to one request: the connection is out of step
            raise SecondAnswer("the server sent more than one answer to one request")
        self.raw_headers = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:  # 1xx: informational, the real answer follows
            return
        self.status = status
        _settle(self.head)

    def on_body(self, chunk: bytes) -> None:
        room = self.limit + 1 - len(self.body)
        if room > 0:
            self.body += chunk[:room]
            if len(self.body) > self.limit:
                self.truncated = True
                _settle(self.done)

    def on_message_complete(self) -> None:
        if self.status == 0:  # the end of a 1xx answer
            return
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()  # only known while the parser is in the message
        _settle(self.done)

    # --- from the connection
    def feed(self, data: bytes) -> None:
        self.answered = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.fail(httptools.HttpParserError("the server switched protocols, unasked"))
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, SecondAnswer):
                # The first answer stands as it was read; the connection is not used again.
                self.keep_alive = False
                self._connection.abort()
                return
            self.fail(exc)

    def expire(self) -> None:
        """The deadline passed before the answer was complete."""
        self.fail(TimeoutError("no complete answer within the deadline"))

    def fail(self, exc: BaseException) -> None:
        _settle(self.head, exc)
        _settle(self.done, exc)
        self._connection.abort()

    def connection_ended(self, exc: BaseException | None) -> None:
        if not self.head.done():
            _settle(self.head, _closed_early("before answering", exc))
        elif not self.done.done():
            if self._ends_with_connection() and exc is None:
                self.complete = False  # nothing left to reuse anyway
                _settle(self.done)
            else:
                _settle(self.done, _closed_early("before the body was complete", exc))

    def _ends_with_connection(self) -> bool:
        """No length and not chunked: the body is whatever comes until the server closes."""
        for name, value in self.raw_headers:
            name = name.lower()
            if name == b"content-length" or (name == b"transfer-encoding" and b"chunked" in value.lower()):
                return False
        return True

    @property
    def reusable(self) -> bool:
        return self.complete and self.keep_alive


class _Connection(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.response: Http1Response | None = None
        self.closed = False
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.response is None:  # bytes nobody asked for: the connection cannot be trusted
            self.abort()
            return
        self.response.feed(data)

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.response is not None:
            self.response.connection_ended(exc)

    def begin(self, request: bytes, limit: int) -> Http1Response:
        response = self.response = Http1Response(self, limit)
        self.transport.write(request)  # type: ignore[union-attr]
        return response

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class Http1Pool:
    """Keep-alive connections per (host, port, TLS). The caller caps requests in flight per host
    (``slots.ConnectionSlots``); the pool keeps at most ``max_idle_per_host`` idle ones."""

    def __init__(self, *, ssl_context: ssl.SSLContext, keepalive_expiry: float, max_idle_per_host: int,
                 allow_private: bool) -> None:
        self._ssl_context = ssl_context
        self._keepalive_expiry = keepalive_expiry
        self._max_idle = max_idle_per_host
        self._allow_private = allow_private
        self._idle: dict[tuple[str, int, bool], list[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._next_sweep = 0.0

    async def post(self, target: Http1Target, headers: list[tuple[str, str]], body: bytes,
                   limit: int, deadline: float) -> tuple[_Connection, Http1Response]:
        """Send the request; returns once the answer's head arrived. The caller ends the
        exchange with :meth:`finish`, which reuses or closes the connection. ``deadline`` (loop
        time) covers connecting, the head and the body: past it, what is still awaited raises
        TimeoutError. A timer on the loop does this, which costs far less than a task
        cancellation scope around every request."""
        request = _request_bytes(target, headers, body)
        connection = self._take_idle(target.key)
        if connection is not None:
            try:
                return connection, await self._send(connection, request, limit, deadline)
            except ConnectionClosedEarly as exc:
                # The server closed this idle connection as we reused it (its keep-alive timeout
                # ran out) and no byte of an answer came back: send once more, on a new one.
                if exc.answered:
                    raise
        async with asyncio.timeout_at(deadline):  # resolving, connecting, the TLS handshake
            connection = await self._connect(target)
        return connection, await self._send(connection, request, limit, deadline)

    async def _send(self, connection: _Connection, request: bytes, limit: int, deadline: float) -> Http1Response:
        response = connection.begin(request, limit)
        response.timer = connection.loop.call_at(deadline, response.expire)
        try:
            await response.head
        except BaseException as exc:
            response.timer.cancel()
            connection.abort()
            self._open.discard(connection)
            if isinstance(exc, ConnectionClosedEarly):
                exc.answered = response.answered
            raise
        return response

    def finish(self, connection: _Connection, response: Http1Response, key: tuple[str, int, bool]) -> None:
        """Back to the pool if the answer was read to its end and the server keeps it alive."""
        if response.timer is not None:
            response.timer.cancel()
        connection.response = None
        idle = self._idle.setdefault(key, [])
        if response.reusable and not connection.closed and len(idle) < self._max_idle:
            connection.idle_since = time.monotonic()
            idle.append(connection)
            return
        connection.abort()
        self._open.discard(connection)

    def _take_idle(self, key: tuple[str, int, bool]) -> _Connection | None:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._sweep(now)
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()  # the most recently used: the least likely to have timed out
            if not connection.closed and now - connection.idle_since < self._keepalive_expiry:
                return connection
            connection.abort()
            self._open.discard(connection)
        return None

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + _SWEEP_EVERY_SECONDS
        for key, idle in list(self._idle.items()):
            kept = [c for c in idle if not c.closed and now - c.idle_since < self._keepalive_expiry]
            for connection in idle:
                if connection not in kept:
                    connection.abort()
                    self._open.discard(connection)
            if kept:
                self._idle[key] = kept
            else:
                del self._idle[key]

    async def _connect(self, target: Http1Target) -> _Connection:
        if target.literal is not None:
            addresses = [target.literal]  # judged by the client before it got here
        else:
            addresses = await ssrf.resolve_host(target.host, target.port)  # looked up here: tests replace it
            if not self._allow_private:
                problem = check_resolved(addresses)
                if problem is not None:
                    raise BlockedTargetError(target.host, problem)
        loop = asyncio.get_running_loop()
        last_error: OSError | None = None
        for address in addresses:  # only the addresses just checked
            try:
                _, connection = await loop.create_connection(
                    lambda: _Connection(loop), address, target.port,
                    ssl=self._ssl_context if target.tls else None,
                    server_hostname=target.host if target.tls else None,
                )
            except OSError as exc:
                last_error = exc
                continue
            self._open.add(connection)
            return connection
        assert last_error is not None  # resolve_host returns at least one address or raises
        raise last_error

    async def aclose(self) -> None:
        for connection in list(self._open):
            connection.abort()
        self._open.clear()
        self._idle.clear()


def _request_bytes(target: Http1Target, headers: list[tuple[str, str]], body: bytes) -> bytes:
    parts = [target.head, b"content-length: ", str(len(body)).encode(), b"\r\naccept-encoding: identity\r\n"]
    for name, value in headers:
        parts += (name.encode(), b": ", value.encode(), b"\r\n")
    parts += (b"\r\n", body)
    return b"".join(parts)


def _closed_early(when: str, cause: BaseException | None) -> ConnectionClosedEarly:
    error = ConnectionClosedEarly(f"the server closed the connection {when}")
    error.__cause__ = cause
    return error


def _settle(future: asyncio.Future, error: BaseException | None = None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
        future.exception()  # marks it retrieved: an unawaited failure here is not a bug to report
