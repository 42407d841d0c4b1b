"""The API's HTTP protocol: one write per response, streams still flowing, keep-alive intact."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import httpx
import uvicorn

from hookrelay.api.http_protocol import CoalescedWritesProtocol, _CoalescingTransport


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.closing = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default=None):
        return ("127.0.0.1", 8000) if name == "sockname" else default


async def test_writes_in_one_turn_of_the_loop_leave_as_one() -> None:
    transport = RecordingTransport()
    coalescing = _CoalescingTransport(transport, asyncio.get_running_loop())
    coalescing.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n")
    coalescing.write(b"{}")
    assert transport.writes == []
    await asyncio.sleep(0)
    assert transport.writes == [b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n{}"]
    coalescing.write(b"next")
    await asyncio.sleep(0)
    assert transport.writes[1:] == [b"next"]


async def test_close_sends_what_was_collected_first() -> None:
    transport = RecordingTransport()
    coalescing = _CoalescingTransport(transport, asyncio.get_running_loop())
    coalescing.write(b"last words")
    coalescing.close()
    assert transport.writes == [b"last words"] and transport.closed
    await asyncio.sleep(0)
    assert transport.writes == [b"last words"]


async def test_a_closing_connection_is_not_written_to() -> None:
    transport = RecordingTransport()
    coalescing = _CoalescingTransport(transport, asyncio.get_running_loop())
    coalescing.write(b"too late")
    transport.closing = True
    await asyncio.sleep(0)
    assert transport.writes == []


async def test_everything_else_is_the_real_transports() -> None:
    transport = RecordingTransport()
    coalescing = _CoalescingTransport(transport, asyncio.get_running_loop())
    assert coalescing.get_extra_info("sockname") == ("127.0.0.1", 8000)


# --- served for real --------------------------------------------------------------------------

release_stream: asyncio.Event  # made by the test that streams, in its own event loop


async def app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        await send({"type": "http.response.body", "body": b"data: first\n\n", "more_body": True})
        await release_stream.wait()
        await send({"type": "http.response.body", "body": b"data: last\n\n"})
        return
    body = (await receive()).get("body", b"")
    answer = b'{"path":"' + scope["path"].encode() + b'","received":' + str(len(body)).encode() + b"}"
    await send({"type": "http.response.start", "status": 202,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]})
    await send({"type": "http.response.body", "body": answer})


socket_writes: list[bytes] = []


class WriteCounter:
    """The connection's real transport, with every write it is asked for noted."""

    def __init__(self, transport) -> None:
        self._transport = transport

    def write(self, data: bytes) -> None:
        socket_writes.append(data)
        self._transport.write(data)

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


class CountedCoalescedWritesProtocol(CoalescedWritesProtocol):
    def connection_made(self, transport) -> None:
        super().connection_made(WriteCounter(transport))


@contextlib.asynccontextmanager
async def served() -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, http=CountedCoalescedWritesProtocol, log_config=None, access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():  # it failed to start: say why rather than wait forever
            sock.close()
            task.result()
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def test_each_answer_leaves_in_one_write_over_a_kept_alive_connection() -> None:
    socket_writes.clear()
    async with served() as base, httpx.AsyncClient(base_url=base) as client:
        for number in range(3):
            response = await client.post(f"/v1/events/{number}", content=b"x" * 100)
            assert response.status_code == 202
            assert response.json() == {"path": f"/v1/events/{number}", "received": 100}
    # uvicorn's own protocol makes two writes per answer: the head, then the body.
    assert len(socket_writes) == 3
    assert all(write.startswith(b"HTTP/1.1 202 ") and write.endswith(b"}") for write in socket_writes)


async def test_pipelined_requests_are_answered_in_order() -> None:
    async with served() as base:
        host, port = base.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"".join(
            f"POST /{name} HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\n\r\nx".encode() for name in ("a", "b", "c")
        ))
        answers = []
        for _ in range(3):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.startswith(b"content-length")))
            answers.append(await reader.readexactly(length))
        writer.close()
        assert answers == [b'{"path":"/a","received":1}', b'{"path":"/b","received":1}',
                           b'{"path":"/c","received":1}']


async def test_a_stream_flows_while_its_handler_waits() -> None:
    global release_stream
    release_stream = asyncio.Event()
    async with served() as base, httpx.AsyncClient(base_url=base) as client:
        async with client.stream("GET", "/stream") as response:
            assert response.headers["content-type"] == "text/event-stream"
            chunks = response.aiter_bytes()
            # The handler is still waiting for release_stream: headers and the first event came
            # out without it.
            assert await asyncio.wait_for(anext(chunks), 5) == b"data: first\n\n"
            release_stream.set()
            assert b"".join([chunk async for chunk in chunks]) == b"data: last\n\n"

