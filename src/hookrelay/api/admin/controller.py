"""Admin routes (SPEC §5 "Admin"): applications and API keys, behind the admin token."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody

from hookrelay.api.auth import require_admin
from hookrelay.services import applications as applications_service


class ApplicationIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class AdminController(Controller):
    path = "/v1/admin"
    tags = ["admin"]
    dependencies = {"admin": Provide(require_admin)}

    @post("/applications", status_code=201)
    async def create_application(self, request: Request, data: JSONBody[ApplicationIn], admin: NamedDependency[None]) -> dict:
        created = await applications_service.create_application(request.app.state.services.database, data.name)
        return {k: created[k] for k in ("id", "name", "api_key", "created_at")}

    @get("/applications")
    async def list_applications(self, request: Request, admin: NamedDependency[None]) -> dict:
        apps = await applications_service.list_applications(request.app.state.services.database)
        return {"data": apps, "next_cursor": None}

    @post("/applications/{application_id:str}/keys", status_code=201)
    async def create_key(self, request: Request, application_id: FromPath[str], admin: NamedDependency[None]) -> dict:
        return await applications_service.add_api_key(request.app.state.services.database, application_id)

    @delete("/keys/{key_id:str}", status_code=204)
    async def revoke_key(self, request: Request, key_id: FromPath[str], admin: NamedDependency[None]) -> None:
        key_hash = await applications_service.revoke_api_key(request.app.state.services.database, key_id)
        request.app.state.key_cache.forget(key_hash)
