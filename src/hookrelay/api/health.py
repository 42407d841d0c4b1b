"""``/healthz`` (the process answers) and ``/readyz`` (database, Redis and schema are fine)."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis
from litestar import Request, Response, get

from hookrelay.api.problems import problem_response
from hookrelay.db.migrations import SchemaBehind, ensure_schema_current

SCHEMA_CHECK_CACHE_SECONDS = 10.0


@get("/healthz", tags=["health"], include_in_schema=True)
async def healthz() -> dict:
    return {"status": "ok"}


@get("/readyz", tags=["health"])
async def readyz(request: Request) -> Response:
    services = request.app.state.services
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(services.database.ping(), 3)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    if services.settings.redis_url:
        client = aioredis.Redis.from_url(services.settings.redis_url)
        try:
            await asyncio.wait_for(client.ping(), 3)
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"unreachable: {type(exc).__name__}"
        finally:
            await client.aclose()
    if checks["database"] == "ok":
        checks["schema"] = await _schema_state(request)
    if all(value == "ok" for value in checks.values()):
        return Response({"status": "ready", "checks": checks})
    return problem_response(503, "not_ready", "a dependency is not ready", extra={"checks": checks})


async def _schema_state(request: Request) -> str:
    state = request.app.state
    checked_at = getattr(state, "schema_checked_at", 0.0)
    if time.monotonic() - checked_at < SCHEMA_CHECK_CACHE_SECONDS:
        return "ok"
    try:
        await asyncio.to_thread(ensure_schema_current, state.services.settings.database_url)
    except SchemaBehind as exc:
        return str(exc)
    state.schema_checked_at = time.monotonic()
    return "ok"
