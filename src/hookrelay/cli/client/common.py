"""What every client command shares: the ``--api-url / --api-key / --json`` options, error
handling (one ``error: …`` line on stderr, exit status 1, never a traceback), and the parsing of
JSON and time arguments.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from hookrelay.cli.client.http import DEFAULT_API_URL, ApiClient, ClientError, one_line


def fail(message: str, status: int = 1) -> None:
    click.echo(f"error: {one_line(message)}", err=True)
    raise click.exceptions.Exit(status)


class Session:
    """A command's view of the options: the API client (made on first use) and the output mode."""

    def __init__(self, api_url: str, api_key: str | None, as_json: bool) -> None:
        self.api_url = api_url
        self._api_key = api_key
        self.as_json = as_json
        self._api: ApiClient | None = None

    @property
    def api(self) -> ApiClient:
        if self._api is None:
            self._api = ApiClient(self.api_url, self._api_key)
        return self._api

    def close(self) -> None:
        if self._api is not None:
            self._api.close()


def client_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Adds the common options and turns every failure into one line and exit status 1.

    The decorated function receives a ``Session`` first, then its own parameters.
    """

    @click.option(
        "--api-url", envvar="HOOKRELAY_API_URL", show_envvar=True, default=DEFAULT_API_URL, show_default=True,
        metavar="URL", help="Base URL of the hookrelay API.",
    )
    @click.option(
        "--api-key", envvar="HOOKRELAY_API_KEY", show_envvar=True, metavar="KEY",
        help="Application API key (hr_…).",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer instead of a table.")
    @functools.wraps(func)
    def wrapper(api_url: str, api_key: str | None, as_json: bool, **kwargs: Any) -> Any:
        session = Session(api_url, api_key, as_json)
        try:
            return func(session, **kwargs)
        except ClientError as exc:
            fail(exc.message)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit):
            raise
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except Exception as exc:  # noqa: BLE001 - a bug must still be one line, not a traceback
            fail(f"unexpected {type(exc).__name__}: {exc}")
        finally:
            session.close()

    return wrapper


# -- usage errors: one line and exit status 1 too -----------------------------------------------


def _usage_error(exc: click.UsageError) -> None:
    hint = ""
    if exc.ctx is not None:
        hint = f" (see '{exc.ctx.command_path} --help')"
    fail(exc.format_message() + hint)


class ClientCommand(click.Command):
    def make_context(self, info_name, args, parent=None, **extra):  # type: ignore[override]
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as exc:
            _usage_error(exc)


class ClientGroup(click.Group):
    command_class = ClientCommand

    def make_context(self, info_name, args, parent=None, **extra):  # type: ignore[override]
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as exc:
            _usage_error(exc)

    def resolve_command(self, ctx, args):  # type: ignore[override]
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            _usage_error(exc)


# -- argument parsing ------------------------------------------------------------------------------


def parse_json_object(option: str, text: str | None) -> dict | None:
    """``--data '{"a": 1}'``, or ``--data @file.json`` (``@-`` reads stdin); must be an object."""
    if text is None:
        return None
    if text.startswith("@"):
        source = text[1:]
        try:
            text = click.get_text_stream("stdin").read() if source == "-" else Path(source).read_text()
        except OSError as exc:
            raise ClientError(f"{option}: cannot read {source}: {exc.strerror or exc}") from None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ClientError(f"{option} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ClientError(f"{option} must be a JSON object, e.g. '{{\"key\": \"value\"}}'")
    return value


_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def format_rfc3339(value: datetime) -> str:
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_time(option: str, text: str | None, *, now: datetime | None = None) -> str | None:
    """RFC 3339 UTC from ``2026-11-22T10:00:00Z`` (no zone = UTC) or a relative ``90s|30m|2h|7d|1w`` ago."""
    if text is None:
        return None
    match = _RELATIVE.match(text)
    if match:
        amount, unit = float(match.group(1)), match.group(2).lower()
        return format_rfc3339((now or datetime.now(UTC)) - timedelta(**{_UNITS[unit]: amount}))
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ClientError(
            f"{option} {text!r} is not a time: use RFC 3339 (2026-11-22T10:00:00Z) or a duration ago (30m, 2h, 7d)"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return format_rfc3339(value)


TIME_HELP = "RFC 3339 (2026-11-22T10:00:00Z; no zone means UTC) or a duration ago (30m, 2h, 7d)."


def split_list(values: tuple[str, ...]) -> list[str]:
    """``--events a,b --events c`` → ``["a", "b", "c"]``."""
    return [item.strip() for value in values for item in value.split(",") if item.strip()]
