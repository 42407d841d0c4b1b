"""Errors that reach an API client, each with a stable ``code`` and an HTTP status.

    HookrelayError (500 internal_error)
    ├── BadRequest (400)            malformed_json, invalid_cursor, …
    ├── Unauthorized (401)          unauthorized
    ├── NotFound (404)              not_found
    ├── Conflict (409)              job_not_cancellable, …
    ├── PayloadTooLarge (413)       payload_too_large
    ├── Unprocessable (422)         validation_error (with ``errors``), unknown_job_type,
    │                               idempotency_key_reused
    └── ServiceUnavailable (503)    dependency_unavailable

The API renders each as RFC 9457 problem details in one exception handler (api/problems.py).
"""

from __future__ import annotations

from typing import Any


class HookrelayError(Exception):
    status = 500
    code = "internal_error"
    title = "Internal Server Error"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        errors: list[dict[str, str]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        self.errors = errors
        self.extra = extra or {}


class BadRequest(HookrelayError):
    status, code, title = 400, "bad_request", "Bad Request"


class Unauthorized(HookrelayError):
    status, code, title = 401, "unauthorized", "Unauthorized"


class NotFound(HookrelayError):
    status, code, title = 404, "not_found", "Not Found"


class Conflict(HookrelayError):
    status, code, title = 409, "conflict", "Conflict"


class PayloadTooLarge(HookrelayError):
    status, code, title = 413, "payload_too_large", "Payload Too Large"


class Unprocessable(HookrelayError):
    status, code, title = 422, "validation_error", "Unprocessable Content"


class ServiceUnavailable(HookrelayError):
    status, code, title = 503, "dependency_unavailable", "Service Unavailable"
