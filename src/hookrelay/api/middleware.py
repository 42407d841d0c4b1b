"""One canonical log line per HTTP request, with a request id bound for every line logged
while handling it (and echoed as ``X-Request-ID``)."""

from __future__ import annotations

import secrets
import time

import structlog
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from hookrelay.logging import get_logger

log = get_logger("hookrelay.http")
QUIET_PATHS = {"/healthz", "/readyz", "/metrics"}


def request_logging_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or secrets.token_hex(8)
        started = time.perf_counter()
        status_holder = {"status": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await app(scope, receive, send_with_id)
        finally:
            path = scope.get("path", "")
            if path not in QUIET_PATHS:
                state = scope.get("state") or {}
                log.info(
                    "http_request",
                    method=scope.get("method"),
                    path=path,
                    status=status_holder["status"],
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                    app_id=state.get("app_id"),
                )
            structlog.contextvars.clear_contextvars()

    return middleware


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if 0 < len(text) <= 64 and text.replace("-", "").isalnum():
                return text
    return None
