"""A real webhook receiver for end-to-end tests: an aiohttp server on 127.0.0.1 in a background thread.

Every request is verified with the ``standardwebhooks`` library against the secrets set for its
path (the same check a merchant makes) and recorded; each path answers as scripted for it.

    receiver = Receiver()                                   # listening on 127.0.0.1:<free port>
    receiver.set_secret("/orders", endpoint["secret"])
    receiver.set_behaviour("/orders", fail_then_ok(2))      # 500, 500, then 200 from then on
    url = receiver.url("/orders")                           # → register this as the endpoint URL
    first, second, third = receiver.wait_for("/orders", 3, timeout=20)
    receiver.stop()

A path with no behaviour answers 200. ``set_down(path)`` makes it answer 503 until ``set_up(path)``.
The handle is thread-safe; tests call it synchronously while the server runs in its own loop.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web
from standardwebhooks.webhooks import Webhook


@dataclass(frozen=True)
class Behaviour:
    """How a path answers. Requests are counted per path from the last ``set_behaviour``."""

    status: int = 200  # the answer once the failures are used up
    fail_times: int = 0  # the first N requests answer ``fail_status`` instead
    fail_status: int = 500
    hang_seconds: float = 0.0  # wait this long before answering...
    hang_times: int | None = None  # ...on the first N requests only (None: on every request)
    headers: Mapping[str, str] = field(default_factory=dict)  # added to every answer, e.g. Retry-After


def always(status: int) -> Behaviour:
    return Behaviour(status=status)


def fail_then_ok(times: int, status: int = 500) -> Behaviour:
    return Behaviour(fail_times=times, fail_status=status)


def hang_then_ok(seconds: float, times: int | None = 1) -> Behaviour:
    return Behaviour(hang_seconds=seconds, hang_times=times)


@dataclass
class Received:
    """One request as it arrived, and what the receiver answered."""

    arrived_at: float  # time.time() when the handler started
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    verified: bool  # a standardwebhooks check passed with one of the path's secrets
    verify_error: str | None
    status: int | None = None  # None while the answer is still pending (hanging)

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._behaviours: dict[str, Behaviour] = {}
        self._counts: dict[str, int] = {}
        self._secrets: dict[str, tuple[str, ...]] = {}
        self._down: set[str] = set()
        self._received: list[Received] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._failure: BaseException | None = None
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="webhook-receiver", daemon=True)
        self._thread.start()
        if not ready.wait(timeout=10) or self._failure is not None:
            raise RuntimeError(f"the receiver did not start: {self._failure!r}")

    # -- the handle used by tests ------------------------------------------------------------

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def set_behaviour(self, path: str, behaviour: Behaviour) -> None:
        with self._lock:
            self._behaviours[path] = behaviour
            self._counts[path] = 0

    def set_secret(self, path: str, *secrets: str) -> None:
        """The secrets a request to ``path`` may be signed with (any one verifying is enough)."""
        with self._lock:
            self._secrets[path] = secrets

    def set_down(self, path: str) -> None:
        with self._lock:
            self._down.add(path)

    def set_up(self, path: str) -> None:
        with self._lock:
            self._down.discard(path)

    def requests(self, path: str | None = None) -> list[Received]:
        """The requests received so far (on ``path``, or on every path), in arrival order."""
        with self._lock:
            return [r for r in self._received if path is None or r.path == path]

    def count(self, path: str | None = None) -> int:
        return len(self.requests(path))

    def wait_for(self, path: str | None, count: int, timeout: float) -> list[Received]:
        """Block until ``count`` requests arrived on ``path`` (None: any path); return them all."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                received = [r for r in self._received if path is None or r.path == path]
                remaining = deadline - time.monotonic()
                if len(received) >= count or remaining <= 0:
                    break
                self._arrived.wait(timeout=min(remaining, 0.5))
        if len(received) < count:
            raise AssertionError(
                f"receiver: {len(received)} of {count} requests on {path or 'any path'} within {timeout}s;"
                f" statuses answered: {[r.status for r in received]}"
            )
        return received

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- the server --------------------------------------------------------------------------

    def _serve(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._run(ready))
        except BaseException as error:  # noqa: BLE001 - reported to the starting thread
            self._failure = error
            ready.set()
        finally:
            pending = asyncio.all_tasks(loop)  # handlers still hanging when the server stopped
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    async def _run(self, ready: threading.Event) -> None:
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, 0)
        await site.start()
        self.port = runner.addresses[0][1]
        ready.set()
        try:
            await self._stopping.wait()
        finally:
            await runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        arrived_at = time.time()
        body = await request.read()
        path = request.path
        with self._lock:
            secrets = self._secrets.get(path, ())
            down = path in self._down
            behaviour = self._behaviours.get(path, Behaviour())
            if not down:
                self._counts[path] = number = self._counts.get(path, 0) + 1
        verified, verify_error = _verify(secrets, body, dict(request.headers))
        record = Received(
            arrived_at=arrived_at, path=path, headers={k.lower(): v for k, v in request.headers.items()},
            body=body, verified=verified, verify_error=verify_error,
        )
        with self._arrived:
            self._received.append(record)
            self._arrived.notify_all()

        if down:
            status = 503
        else:
            if behaviour.hang_seconds and (behaviour.hang_times is None or number <= behaviour.hang_times):
                await asyncio.sleep(behaviour.hang_seconds)
            status = behaviour.fail_status if number <= behaviour.fail_times else behaviour.status
        with self._lock:
            record.status = status
        return web.Response(status=status, text=f"answered {status}", headers=dict(behaviour.headers))


def _verify(secrets: tuple[str, ...], body: bytes, headers: dict[str, str]) -> tuple[bool, str | None]:
    if not secrets:
        return False, "no secret set for this path"
    errors = []
    for secret in secrets:
        try:
            Webhook(secret).verify(body, headers, json_parse=False)
            return True, None
        except Exception as error:  # noqa: BLE001 - malformed headers raise ValueError, not only the library's error
            errors.append(f"{type(error).__name__}: {error}")
    return False, "; ".join(errors)
