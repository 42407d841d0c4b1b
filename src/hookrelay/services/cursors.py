"""Opaque list cursors: the last id of a page, signed with HOOKRELAY_SECRET_KEY.

A cursor is bound to its list and its application, so a tampered cursor, one made for another
list, or one from another application's key is refused with 400 rather than leaking rows.
"""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeSerializer

from hookrelay.errors import BadRequest

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class CursorCodec:
    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeSerializer(secret_key, salt="hookrelay.cursor")

    def encode(self, *, listing: str, app_id: str, last_id: str) -> str:
        return self._serializer.dumps({"l": listing, "a": app_id, "i": last_id})

    def decode(self, cursor: str, *, listing: str, app_id: str) -> str:
        try:
            payload = self._serializer.loads(cursor)
        except BadSignature:
            raise BadRequest("the cursor is invalid or was tampered with", code="invalid_cursor") from None
        if not isinstance(payload, dict) or payload.get("l") != listing or payload.get("a") != app_id:
            raise BadRequest("the cursor does not belong to this list", code="invalid_cursor")
        last_id = payload.get("i")
        if not isinstance(last_id, str):
            raise BadRequest("the cursor is invalid or was tampered with", code="invalid_cursor")
        return last_id


def page(rows: list, limit: int) -> tuple[list, bool]:
    """Rows were fetched with limit+1; returns the page and whether another follows."""
    return rows[:limit], len(rows) > limit
