"""The API client the CLI commands use: one class, and one exception with a one-line message.

Every failure — the API unreachable, an HTTP problem response, a body that is not JSON — becomes
a ``ClientError`` whose message is the single line the CLI prints after ``error: ``. No message
ever contains the API key (it is sent in a header and never formatted into text).
"""

from __future__ import annotations

import errno
import re
from collections.abc import Iterator
from typing import Any

import httpx

DEFAULT_API_URL = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT = 30.0
MAX_PAGE = 500  # the API's largest ?limit=


class ClientError(Exception):
    """A failure the CLI reports as ``error: <message>`` and exit status 1."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))
        self.message = one_line(message)


def one_line(text: str, limit: int = 500) -> str:
    text = re.sub(r"\s+", " ", str(text)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _connect_reason(exc: Exception) -> str:
    """``connection refused`` rather than ``[Errno 111] Connection refused``."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED:
            return "connection refused"
        cause = cause.__cause__ or cause.__context__
    text = str(exc) or type(exc).__name__
    if "refused" in text.lower():
        return "connection refused"
    return re.sub(r"^\[Errno -?\d+\]\s*", "", text).strip().rstrip(".").lower() or "connection failed"


def problem_message(response: httpx.Response) -> str:
    """``404 delivery_not_found: no delivery dlv_x`` from an RFC 9457 problem (or any error answer)."""
    status = response.status_code
    body: Any = None
    try:
        body = response.json()
    except ValueError:
        pass
    if isinstance(body, dict) and ("code" in body or "title" in body or "detail" in body):
        code = body.get("code") or body.get("title") or response.reason_phrase
        detail = body.get("detail") or body.get("title") or ""
        message = f"{status} {code}: {detail}" if detail else f"{status} {code}"
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            parts = [
                f"{e.get('field', '?')}: {e.get('message', 'invalid')}" if isinstance(e, dict) else str(e)
                for e in errors
            ]
            message += " (" + "; ".join(parts) + ")"
        return one_line(message)
    text = one_line(response.text, limit=200)
    reason = response.reason_phrase or "error"
    return f"{status} {reason}: {text}" if text else f"{status} {reason}"


class ApiClient:
    """Synchronous JSON client for the hookrelay API, authenticated with an application key."""

    def __init__(self, api_url: str, api_key: str | None, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        api_url = (api_url or "").strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", api_url):
            raise ClientError(f"invalid API URL {api_url!r} (expected http://host:port or https://host)")
        if not api_key:
            raise ClientError("no API key (set HOOKRELAY_API_KEY or pass --api-key)")
        self.api_url = api_url
        self._http = httpx.Client(
            base_url=api_url,
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=timeout,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """The decoded JSON body of a 2xx answer (None for an empty body); ClientError otherwise."""
        params = {k: v for k, v in (params or {}).items() if v is not None}
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        try:
            response = self._http.request(method, path, params=params, json=json, headers=headers, **extra)
        except httpx.TimeoutException:
            raise ClientError(f"cannot reach {self.api_url}: timed out") from None
        except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.NetworkError) as exc:
            raise ClientError(f"cannot reach {self.api_url}: {_connect_reason(exc)}") from None
        except httpx.HTTPError as exc:
            raise ClientError(f"request to {self.api_url} failed: {one_line(str(exc)) or type(exc).__name__}") from None
        if response.status_code >= 400 or 300 <= response.status_code < 400:
            raise ClientError(problem_message(response))
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ClientError(
                f"{response.status_code}: the answer from {self.api_url}{path} is not JSON"
                " (is --api-url the hookrelay API?)"
            ) from None

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)

    def pages(self, path: str, params: dict[str, Any], *, total: int, follow: bool) -> Iterator[tuple[list, Any]]:
        """Yield (items, next_cursor) per page: one page of ``total``, or (follow) pages until ``total``."""
        fetched = 0
        cursor = params.get("cursor")
        while True:
            size = min(total - fetched, MAX_PAGE)
            page = self.get(path, params={**params, "limit": size, "cursor": cursor})
            if not isinstance(page, dict) or not isinstance(page.get("data"), list):
                raise ClientError(f"unexpected answer from {path}: not a list page")
            items = page["data"][:size]
            fetched += len(items)
            cursor = page.get("next_cursor")
            yield items, cursor
            if not follow or not cursor or fetched >= total or not items:
                return


def collect(client: ApiClient, path: str, params: dict[str, Any], *, total: int, follow: bool) -> dict:
    """A list page shaped like the API's: ``{"data": [...], "next_cursor": ...}`` across pages."""
    data: list = []
    cursor = None
    for items, cursor in client.pages(path, params, total=total, follow=follow):
        data.extend(items)
    return {"data": data, "next_cursor": cursor}
