"""Request authentication: application API keys and the admin token.

Key lookups are cached briefly per process because every request needs one; revoking a key
takes effect at once in the process that revoked it and within KEY_CACHE_SECONDS elsewhere.
"""

from __future__ import annotations

import hmac
import time

from litestar import Request

from hookrelay.db.repositories import applications as applications_repo
from hookrelay.domain.api_keys import hash_api_key, looks_like_api_key
from hookrelay.errors import Unauthorized
from hookrelay.services.context import Services

KEY_CACHE_SECONDS = 30.0


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class KeyCache:
    def __init__(self) -> None:
        self._entries: dict[str, tuple[str | None, float]] = {}

    def get(self, key_hash: str) -> tuple[bool, str | None]:
        entry = self._entries.get(key_hash)
        if entry is None or entry[1] < time.monotonic():
            return False, None
        return True, entry[0]

    def put(self, key_hash: str, app_id: str | None) -> None:
        if len(self._entries) > 100_000:
            self._entries.clear()
        self._entries[key_hash] = (app_id, time.monotonic() + KEY_CACHE_SECONDS)

    def forget(self, key_hash: str) -> None:
        self._entries.pop(key_hash, None)


async def authenticate_app(request: Request) -> str:
    """Dependency: the application id of the request's API key, or 401."""
    token = bearer_token(request)
    if token is None or not looks_like_api_key(token):
        raise Unauthorized("send an API key as `Authorization: Bearer hr_…`", code="unauthorized")
    services: Services = request.app.state.services
    cache: KeyCache = request.app.state.key_cache
    key_hash = hash_api_key(token)
    found, app_id = cache.get(key_hash)
    if not found:
        async with services.database.transaction() as connection:
            app_id = await applications_repo.app_id_for_key_hash(connection, key_hash)
        cache.put(key_hash, app_id)
    if app_id is None:
        raise Unauthorized("the API key is not valid", code="unauthorized")
    request.scope["state"]["app_id"] = app_id
    return app_id


async def require_admin(request: Request) -> None:
    """Dependency: the admin token, compared in constant time."""
    token = bearer_token(request)
    expected = request.app.state.services.settings.admin_token or ""
    if token is None or not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Unauthorized("this route needs the admin token", code="unauthorized")
