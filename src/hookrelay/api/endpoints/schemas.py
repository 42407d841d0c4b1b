from __future__ import annotations

from typing import Annotated, Any

import msgspec

Url = Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
Description = Annotated[str, msgspec.Meta(max_length=1000)]
Pattern = Annotated[str, msgspec.Meta(min_length=1, max_length=129)]


class EndpointIn(msgspec.Struct, forbid_unknown_fields=True):
    url: Url
    description: Description | None = None
    event_types: list[Pattern] | None = None
    rate_limit: int | None = None
    headers: dict[str, str] | None = None
    metadata: dict[str, Any] | None = None
    secret: str | None = None


class EndpointPatch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    url: Url | msgspec.UnsetType = msgspec.UNSET
    description: Description | None | msgspec.UnsetType = msgspec.UNSET
    event_types: list[Pattern] | msgspec.UnsetType = msgspec.UNSET
    rate_limit: int | None | msgspec.UnsetType = msgspec.UNSET
    headers: dict[str, str] | msgspec.UnsetType = msgspec.UNSET
    metadata: dict[str, Any] | None | msgspec.UnsetType = msgspec.UNSET

    def changes(self) -> dict[str, Any]:
        return {
            field: getattr(self, field)
            for field in self.__struct_fields__
            if getattr(self, field) is not msgspec.UNSET
        }


class EndpointOut(msgspec.Struct):
    id: str
    url: str
    description: str | None
    event_types: list[str]
    rate_limit: int | None
    headers: dict[str, str]
    metadata: dict[str, Any] | None
    status: str
    disabled_reason: str | None
    created_at: str
    updated_at: str


class EndpointCreated(EndpointOut):
    secret: str


class EndpointList(msgspec.Struct):
    data: list[EndpointOut]
    next_cursor: str | None


class Secret(msgspec.Struct):
    secret: str


class RecoverIn(msgspec.Struct, forbid_unknown_fields=True):
    since: str
    until: str | None = None
