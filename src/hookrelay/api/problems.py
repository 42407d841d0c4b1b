"""RFC 9457 problem details for every error, in one place.

Domain errors carry their own status and code; Litestar's own exceptions are translated:
malformed JSON → 400, failed validation → 422, oversized body → 413. An unexpected exception is
a 500 without internals in the body, and a database or Redis outage is a 503.
"""

from __future__ import annotations

from typing import Any

import psycopg
import psycopg.errors
import redis.exceptions
import sqlalchemy.exc
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, SerializationException, ValidationException

from hookrelay.errors import HookrelayError
from hookrelay.logging import get_logger

log = get_logger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://hookrelay.dev/problems/"

_CODES_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "dependency_unavailable",
}
_TITLES = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 409: "Conflict", 413: "Payload Too Large",
    415: "Unsupported Media Type", 422: "Unprocessable Content", 429: "Too Many Requests",
    500: "Internal Server Error", 503: "Service Unavailable",
}


def problem_response(
    status: int, code: str, detail: str, *, errors: list[dict] | None = None,
    headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": TYPE_BASE + code,
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return Response(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _validation_errors(exc: ValidationException) -> list[dict[str, str]]:
    items = exc.extra if isinstance(exc.extra, list) else []
    errors = []
    for item in items:
        if isinstance(item, dict):
            field = str(item.get("key") or "body")
            errors.append({"field": field, "message": str(item.get("message", "invalid"))})
    return errors


def handle_hookrelay_error(_request: Request, exc: HookrelayError) -> Response:
    return problem_response(exc.status, exc.code, exc.detail, errors=exc.errors, extra=exc.extra)


def handle_http_exception(request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    if isinstance(exc, ValidationException):
        errors = _validation_errors(exc)
        if any(e["field"] == "data" and e["message"] == "'data'" for e in errors):
            return problem_response(400, "malformed_json", "the request needs a JSON body")
        cause = str(exc.__cause__) if exc.__cause__ else ""
        if "malformed" in exc.detail.lower() or "malformed" in cause.lower():
            return problem_response(400, "malformed_json", exc.detail)
        return problem_response(422, "validation_error", "the request failed validation", errors=errors)
    if status == 400 and (isinstance(exc.__cause__, SerializationException) or "json" in str(exc.detail).lower()):
        return problem_response(400, "malformed_json", str(exc.detail))
    if isinstance(exc, NotAuthorizedException):
        return problem_response(401, "unauthorized", str(exc.detail), headers={"WWW-Authenticate": "Bearer"})
    if status == 413:
        return problem_response(413, "payload_too_large", "the request body is larger than HOOKRELAY_MAX_PAYLOAD_BYTES")
    code = _CODES_BY_STATUS.get(status, "error")
    detail = str(exc.detail) if exc.detail else _TITLES.get(status, "Error")
    return problem_response(status, code, detail, headers=exc.headers)


# Text PostgreSQL cannot store (a \u0000 in JSON, above all): the client's data, not a fault.
_UNSTORABLE_TEXT = (psycopg.errors.UntranslatableCharacter, psycopg.errors.CharacterNotInRepertoire)


def handle_unexpected(request: Request, exc: Exception) -> Response:
    cause = exc.orig if isinstance(exc, sqlalchemy.exc.DBAPIError) else exc
    if isinstance(cause, _UNSTORABLE_TEXT):
        return problem_response(
            422, "unstorable_text", "the request holds text the database cannot store (such as \\u0000 in a JSON string)"
        )
    if isinstance(exc, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError, psycopg.OperationalError,
                        redis.exceptions.ConnectionError, OSError)):
        log.error("dependency_unavailable", error=type(exc).__name__)
        return problem_response(503, "dependency_unavailable", "a dependency (database or Redis) is unavailable")
    log.exception("unhandled_error", path=request.url.path)
    return problem_response(500, "internal_error", "an unexpected error occurred; it has been logged")


exception_handlers = {
    HookrelayError: handle_hookrelay_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
