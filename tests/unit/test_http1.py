"""hookrelay's own HTTP/1.1 client (``delivery.http1``) against scripted servers on 127.0.0.1:
keep-alive reuse, a server closing an idle connection, bodies by length, chunks or close,
1xx answers, malformed answers, the body cap, and TLS."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from hookrelay.delivery.client import RESPONSE_BODY_LIMIT, DeliveryClient
from hookrelay.delivery.http1 import Http1Pool, Http1Target
from hookrelay.delivery.request import WebhookRequest
from hookrelay.domain.outcomes import TransportError

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


class ScriptedServer:
    """Answers each request with ``handler(reader, writer, request_number_on_this_connection)``;
    counts connections and keeps every request head it read."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.heads: list[bytes] = []
        self.bodies: list[bytes] = []
        self.port = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = 0
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = next(
                    int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
                )
                self.heads.append(head)
                self.bodies.append(await reader.readexactly(length))
                number += 1
                await self.handler(reader, writer, number)
                if writer.is_closing():
                    return
        finally:
            writer.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[ScriptedServer]]]:
    servers: list[asyncio.base_events.Server] = []

    async def start(handler: Handler, ssl_context: ssl.SSLContext | None = None) -> ScriptedServer:
        scripted = ScriptedServer(handler)
        server = await asyncio.start_server(scripted.serve, "127.0.0.1", 0, ssl=ssl_context)
        servers.append(server)
        scripted.port = server.sockets[0].getsockname()[1]
        return scripted

    yield start
    for server in servers:
        server.close()


def _client(**options) -> DeliveryClient:
    return DeliveryClient(transport="http1", allow_private_targets=True, timeout=options.pop("timeout", 2.0), **options)


def _request(port: int, path: str = "/hook", body: bytes = b'{"a":1}') -> WebhookRequest:
    return WebhookRequest(url=f"http://127.0.0.1:{port}{path}", headers=(("content-type", "application/json"),
                                                                           ("webhook-id", "msg_1")), body=body)


def answering(raw: bytes, *, then_close: bool = False) -> Handler:
    """A handler that answers every request with ``raw``, then closes the connection if asked."""

    async def answer(reader, writer, number) -> None:
        writer.write(raw)
        await writer.drain()
        if then_close:
            writer.close()

    return answer


ok = answering(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain; charset=utf-8\r\n\r\nok")


async def test_a_request_is_sent_as_given_and_the_connection_is_reused(serve) -> None:
    server = await serve(ok)
    async with _client() as client:
        first = await client.send(_request(server.port, "/hook?x=1"))
        second = await client.send(_request(server.port))
    assert (first.status, first.body, first.error) == (200, "ok", None)
    assert first.headers["content-type"] == "text/plain; charset=utf-8"
    assert second.status == 200
    assert server.connections == 1  # kept alive
    request_line, *header_lines = server.heads[0].decode().split("\r\n")
    assert request_line == "POST /hook?x=1 HTTP/1.1"
    headers = dict(line.split(": ", 1) for line in header_lines if line)
    assert headers["host"] == f"127.0.0.1:{server.port}"
    assert headers["content-length"] == "7" and headers["accept-encoding"] == "identity"
    assert headers["webhook-id"] == "msg_1"
    assert server.bodies == [b'{"a":1}', b'{"a":1}']


async def test_an_idle_connection_the_server_dropped_is_replaced_once(serve) -> None:
    async def drops_second_request(reader, writer, number) -> None:
        if server.connections == 1 and number == 2:
            writer.close()  # its keep-alive timeout, as the request arrives: no answer
            return
        await ok(reader, writer, number)

    server = await serve(drops_second_request)
    async with _client() as client:
        assert (await client.send(_request(server.port))).status == 200
        again = await client.send(_request(server.port))
    assert (again.status, again.error) == (200, None)
    assert server.connections == 2


async def test_an_answer_cut_short_is_a_connection_failure_and_not_sent_again(serve) -> None:
    server = await serve(answering(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this", then_close=True))
    async with _client() as client:
        result = await client.send(_request(server.port))
    # The status arrived, so the attempt is judged by it; the body error is noted.
    assert result.status == 200 and "closed the connection" in (result.error_message or "")
    assert server.connections == 1

    async def no_answer(reader, writer, number) -> None:
        writer.close()

    silent = await serve(no_answer)
    async with _client() as client:
        result = await client.send(_request(silent.port))
    assert result.error is TransportError.CONNECTION and silent.connections == 1  # a new connection is not retried


@pytest.mark.parametrize("answer, body", [
    (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", "abcde"),
    (b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end", "until the end"),
    (b"HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 1\r\n\r\nx", "x"),
    (b"HTTP/1.1 204 No Content\r\n\r\n", ""),
])
async def test_bodies_by_chunks_by_close_after_1xx_and_none(serve, answer: bytes, body: str) -> None:
    server = await serve(answering(answer, then_close=b"connection: close" in answer))
    async with _client() as client:
        result = await client.send(_request(server.port))
        again = await client.send(_request(server.port))
    assert result.error is None and result.body == body and 200 <= result.status < 300
    assert again.status == result.status
    assert server.connections == (2 if b"connection: close" in answer else 1)


async def test_a_malformed_answer_is_a_protocol_failure(serve) -> None:
    server = await serve(answering(b"NOT HTTP AT ALL\r\n\r\n"))
    async with _client() as client:
        result = await client.send(_request(server.port))
    assert result.error is TransportError.PROTOCOL


async def test_a_large_body_is_cut_and_its_connection_not_reused(serve) -> None:
    server = await serve(answering(b"HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\n" + b"x" * 1_000_000))
    async with _client() as client:
        first = await client.send(_request(server.port))
        await client.send(_request(server.port))
    assert first.body_truncated and len(first.body) == RESPONSE_BODY_LIMIT
    assert server.connections == 2


async def test_an_answer_that_never_comes_times_out_and_closes_the_connection(serve) -> None:
    async def never(reader, writer, number) -> None:
        await asyncio.sleep(10)

    server = await serve(never)
    async with _client(timeout=0.3) as client:
        result = await client.send(_request(server.port))
    assert result.error is TransportError.TIMEOUT


async def test_a_body_that_stops_coming_keeps_the_status_and_notes_the_timeout(serve) -> None:
    async def stalls(reader, writer, number) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")
        await writer.drain()
        await asyncio.sleep(10)

    server = await serve(stalls)
    async with _client(timeout=0.3) as client:
        result = await client.send(_request(server.port))
    assert result.status == 200 and result.error is None
    assert result.error_message == "response body not complete within the timeout"


async def test_a_kept_connection_outlives_the_deadline_of_its_last_request(serve) -> None:
    server = await serve(ok)
    async with _client(timeout=0.2) as client:
        assert (await client.send(_request(server.port))).status == 200
        await asyncio.sleep(0.4)  # past the first request's deadline: its timer must be gone
        again = await client.send(_request(server.port))
    assert (again.status, again.error) == (200, None)
    assert server.connections == 1


async def test_the_pool_keeps_at_most_max_per_host_idle_connections(serve) -> None:
    async def slow_ok(reader, writer, number) -> None:
        await asyncio.sleep(0.05)
        await ok(reader, writer, number)

    server = await serve(slow_ok)
    async with _client(max_per_host=2) as client:
        results = await asyncio.gather(*(client.send(_request(server.port)) for _ in range(6)))
        assert all(result.status == 200 for result in results)
        assert server.connections == 2  # the slots cap concurrent requests per host
        idle = client._exchange._pool._idle
        assert sum(len(connections) for connections in idle.values()) == 2


def test_the_target_head_names_host_and_path() -> None:
    target = Http1Target.build(scheme="https", host="::1", port=443, raw_path=b"/a%20b?q=1", literal="::1")
    assert target.head == b"POST /a%20b?q=1 HTTP/1.1\r\nhost: [::1]\r\n"
    assert Http1Target.build(scheme="http", host="example.com", port=8080, raw_path=b"", literal=None).head == (
        b"POST / HTTP/1.1\r\nhost: example.com:8080\r\n"
    )


# --- TLS ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


async def test_tls_is_verified_against_the_client_store(serve, certificate) -> None:
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    server = await serve(ok, server_context)
    request = WebhookRequest(url=f"https://127.0.0.1:{server.port}/hook", headers=(), body=b"{}")

    async with _client() as client:  # certifi's store does not know our self-signed certificate
        refused = await client.send(request)
    assert refused.error is TransportError.TLS

    trusting = Http1Pool(ssl_context=ssl.create_default_context(cafile=str(cert)), keepalive_expiry=5,
                         max_idle_per_host=4, allow_private=True)
    target = Http1Target.build(scheme="https", host="127.0.0.1", port=server.port, raw_path=b"/hook",
                               literal="127.0.0.1")
    deadline = asyncio.get_running_loop().time() + 5
    connection, response = await trusting.post(target, [], b"{}", RESPONSE_BODY_LIMIT, deadline)
    await response.done
    assert (response.status, bytes(response.body)) == (200, b"ok")
    trusting.finish(connection, response, target.key)
    await trusting.aclose()



async def test_an_answer_followed_by_another_stands_and_its_connection_is_dropped(serve) -> None:
    server = await serve(answering(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
                                   b"HTTP/1.1 500 Oops\r\ncontent-length: 30\r\n\r\nbad"))
    async with _client() as client:
        first = await client.send(_request(server.port))
        second = await client.send(_request(server.port))
    assert (first.status, first.body, first.error) == (200, "ok", None)
    assert (second.status, second.body) == (200, "ok")
    assert server.connections == 2  # the first connection, out of step, was not reused


async def test_a_non_chunked_transfer_encoding_body_ends_with_the_connection(serve) -> None:
    server = await serve(answering(b"HTTP/1.1 200 OK\r\ntransfer-encoding: identity\r\n\r\nall of it",
                                   then_close=True))
    async with _client() as client:
        result = await client.send(_request(server.port))
    assert (result.status, result.body, result.error_message) == (200, "all of it", None)
