"""uvicorn's httptools protocol, with each response's writes sent as one.

uvicorn writes a response's status line and headers as soon as the app sends
``http.response.start``, then the body when it sends ``http.response.body``: two ``send``
system calls and two TCP segments for every small JSON answer, which the client then reads
separately. Here the writes a connection makes within one turn of the event loop are joined
and sent at the end of that turn, so a 202 leaves in one segment. A streamed response (SSE,
long polls) still leaves at once: its headers go out when the loop next turns, before the
handler's first wait can end.

Serve with ``http="hookrelay.api.http_protocol:CoalescedWritesProtocol"`` (``hookrelay api``
and ``hookrelay dev`` do).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _CoalescingTransport:
    """Stands in for the connection's transport: ``write`` collects, the loop's next turn sends.

    Everything else is the real transport's (flow control, ``get_extra_info``, ``abort``);
    ``close`` sends what was collected first.
    """

    __slots__ = ("_transport", "_loop", "_pending")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None

    def write(self, data: bytes) -> None:
        if self._pending is None:
            self._pending = [data]
            self._loop.call_soon(self._send_pending)
        else:
            self._pending.append(data)

    def _send_pending(self) -> None:
        pending, self._pending = self._pending, None
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self._send_pending()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescedWritesProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
