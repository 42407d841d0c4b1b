"""One canonical log line per HTTP request, with a request id bound for every line logged
while handling it (and echoed as ``X-Request-ID``), and the request metrics.

Both in one ASGI wrapper: Litestar's Prometheus middleware rebuilt its label dictionaries and
looked its metrics up by name on every request, which cost more than a third of the API's
time on ``POST /v1/jobs`` (``make bench``); here the labelled series are cached.
"""

from __future__ import annotations

import secrets
import time

import structlog
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import Counter, Gauge, Histogram

from hookrelay.logging import get_logger

log = get_logger("hookrelay.http")
QUIET_PATHS = {"/healthz", "/readyz", "/metrics"}

_LABELS = ("method", "path", "status_code", "app_name")
REQUESTS = Counter("hookrelay_requests_total", "HTTP requests answered", _LABELS)
REQUEST_ERRORS = Counter("hookrelay_requests_error_total", "HTTP requests answered with a 5xx", _LABELS)
REQUEST_SECONDS = Histogram("hookrelay_request_duration_seconds", "HTTP request duration", _LABELS)
IN_PROGRESS = Gauge("hookrelay_requests_in_progress", "HTTP requests being handled", ("method", "path", "app_name"))


class _Series:
    """The labelled children of each metric, looked up once per (method, path, status)."""

    def __init__(self) -> None:
        self._answered: dict[tuple[str, str, int], tuple] = {}
        self._in_progress: dict[tuple[str, str], Gauge] = {}

    def in_progress(self, method: str, path: str) -> Gauge:
        key = (method, path)
        gauge = self._in_progress.get(key)
        if gauge is None:
            gauge = self._in_progress[key] = IN_PROGRESS.labels(method, path, "hookrelay")
        return gauge

    def answered(self, method: str, path: str, status: int) -> tuple:
        key = (method, path, status)
        series = self._answered.get(key)
        if series is None:
            labels = (method, path, str(status), "hookrelay")
            series = self._answered[key] = (
                REQUESTS.labels(*labels),
                REQUEST_SECONDS.labels(*labels),
                REQUEST_ERRORS.labels(*labels) if status >= 500 else None,
            )
        return series


_series = _Series()


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
        method = scope.get("method", "")
        # The route's template (/v1/jobs/{job_id:str}), so that series do not grow per id.
        route = scope.get("path_template") or scope.get("path", "")
        in_progress = _series.in_progress(method, route)
        in_progress.inc()
        try:
            await app(scope, receive, send_with_id)
        finally:
            in_progress.dec()
            elapsed = time.perf_counter() - started
            path = scope.get("path", "")
            if path != "/metrics":
                count, duration, errors = _series.answered(method, route, status_holder["status"])
                count.inc()
                duration.observe(elapsed)
                if errors is not None:
                    errors.inc()
            if path not in QUIET_PATHS:
                state = scope.get("state") or {}
                log.info(
                    "http_request",
                    method=scope.get("method"),
                    path=path,
                    status=status_holder["status"],
                    duration_ms=round(elapsed * 1000, 2),
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
