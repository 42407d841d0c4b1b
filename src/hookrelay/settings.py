"""One frozen settings object, read once from ``HOOKRELAY_*`` (SPEC §2).

Durations are parsed here and nowhere else; a bad value stops the process at start with the
variable's name, rather than failing later in a worker.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta

from hookrelay.domain.durations import parse_duration, parse_duration_list

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./hookrelay.db"


class SettingsError(ValueError):
    """A HOOKRELAY_* variable is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    bind: str = "127.0.0.1:8080"
    admin_token: str | None = None
    secret_key: str | None = None
    retry_schedule: tuple[timedelta, ...] = (
        timedelta(0),
        timedelta(hours=1),
        timedelta(hours=3),
        timedelta(hours=6),
    )
    delivery_timeout: timedelta = timedelta(seconds=15)
    # hookrelay's own HTTP/1.1 client; "aiohttp" is the fallback should a receiver need more.
    delivery_transport: str = "http1"
    retry_4xx: bool = False
    breaker_threshold: int = 10
    breaker_cooldown: timedelta = timedelta(minutes=5)
    disable_after: timedelta = timedelta(days=3)
    secret_rotation_grace: timedelta = timedelta(hours=24)
    allow_private_targets: bool = False
    max_payload_bytes: int = 262_144
    job_lease: timedelta = timedelta(seconds=60)
    job_modules: tuple[str, ...] = ()
    retention: timedelta = timedelta(days=30)
    log_format: str = field(default_factory=lambda: "console" if sys.stderr.isatty() else "json")
    log_level: str = "info"
    api_url: str = "http://127.0.0.1:8080"
    api_key: str | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def host_and_port(self) -> tuple[str, int]:
        host, _, port = self.bind.rpartition(":")
        return host.strip("[]") or "127.0.0.1", int(port)

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)

    def require_production_services(self) -> None:
        """``api``, ``worker`` and ``scheduler`` need Redis and the two secrets; ``dev`` does not."""
        if not self.redis_url:
            raise SettingsError(
                "HOOKRELAY_REDIS_URL is not set: api, worker and scheduler need Redis "
                "(use `hookrelay dev` to run without it)"
            )
        if not self.admin_token:
            raise SettingsError("HOOKRELAY_ADMIN_TOKEN is not set (required outside `hookrelay dev`)")
        if not self.secret_key:
            raise SettingsError("HOOKRELAY_SECRET_KEY is not set (required outside `hookrelay dev`)")


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _parse_bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean (use true or false)")


def _parse_positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer") from None
    if value < 1:
        raise SettingsError(f"{name}={raw!r} must be at least 1")
    return value


def _parse_positive_duration(name: str, raw: str) -> timedelta:
    try:
        value = parse_duration(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from None
    if value <= timedelta(0):
        raise SettingsError(f"{name}={raw!r} must be longer than zero")
    return value


def _parse_schedule(name: str, raw: str) -> tuple[timedelta, ...]:
    try:
        return parse_duration_list(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from None


def _parse_bind(name: str, raw: str) -> str:
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SettingsError(f"{name}={raw!r} is not HOST:PORT")
    return raw


def _parse_log_format(name: str, raw: str) -> str:
    if raw not in ("console", "json"):
        raise SettingsError(f"{name}={raw!r} must be console or json")
    return raw


_LOG_LEVELS = ("debug", "info", "warning", "error")
_DELIVERY_TRANSPORTS = ("http1", "aiohttp")


def _parse_delivery_transport(name: str, raw: str) -> str:
    transport = raw.strip().lower()
    if transport not in _DELIVERY_TRANSPORTS:
        raise SettingsError(f"{name}={raw!r} must be one of {', '.join(_DELIVERY_TRANSPORTS)}")
    return transport


def _parse_log_level(name: str, raw: str) -> str:
    level = raw.strip().lower()
    if level not in _LOG_LEVELS:
        raise SettingsError(f"{name}={raw!r} must be one of {', '.join(_LOG_LEVELS)}")
    return level


def _parse_modules(name: str, raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _text(name: str, raw: str) -> str:
    return raw


_PARSERS = {
    "database_url": ("HOOKRELAY_DATABASE_URL", _text),
    "redis_url": ("HOOKRELAY_REDIS_URL", _text),
    "bind": ("HOOKRELAY_BIND", _parse_bind),
    "admin_token": ("HOOKRELAY_ADMIN_TOKEN", _text),
    "secret_key": ("HOOKRELAY_SECRET_KEY", _text),
    "retry_schedule": ("HOOKRELAY_RETRY_SCHEDULE", _parse_schedule),
    "delivery_timeout": ("HOOKRELAY_DELIVERY_TIMEOUT", _parse_positive_duration),
    "delivery_transport": ("HOOKRELAY_DELIVERY_TRANSPORT", _parse_delivery_transport),
    "retry_4xx": ("HOOKRELAY_RETRY_4XX", _parse_bool),
    "breaker_threshold": ("HOOKRELAY_BREAKER_THRESHOLD", _parse_positive_int),
    "breaker_cooldown": ("HOOKRELAY_BREAKER_COOLDOWN", _parse_positive_duration),
    "disable_after": ("HOOKRELAY_DISABLE_AFTER", _parse_positive_duration),
    "secret_rotation_grace": ("HOOKRELAY_SECRET_ROTATION_GRACE", _parse_positive_duration),
    "allow_private_targets": ("HOOKRELAY_ALLOW_PRIVATE_TARGETS", _parse_bool),
    "max_payload_bytes": ("HOOKRELAY_MAX_PAYLOAD_BYTES", _parse_positive_int),
    "job_lease": ("HOOKRELAY_JOB_LEASE", _parse_positive_duration),
    "job_modules": ("HOOKRELAY_JOB_MODULES", _parse_modules),
    "retention": ("HOOKRELAY_RETENTION", _parse_positive_duration),
    "log_format": ("HOOKRELAY_LOG_FORMAT", _parse_log_format),
    "log_level": ("HOOKRELAY_LOG_LEVEL", _parse_log_level),
    "api_url": ("HOOKRELAY_API_URL", _text),
    "api_key": ("HOOKRELAY_API_KEY", _text),
}


def load_settings(environ: Mapping[str, str] | None = None, *, dev: bool = False) -> Settings:
    """Read every HOOKRELAY_* variable; unset ones keep their defaults.

    ``dev`` changes one default, as SPEC §2 says: private targets are allowed under ``dev``.
    """
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for attribute, (variable, parser) in _PARSERS.items():
        raw = env.get(variable)
        if raw is None or (raw == "" and attribute not in ("job_modules",)):
            continue
        values[attribute] = parser(variable, raw)
    if dev and "allow_private_targets" not in values:
        values["allow_private_targets"] = True
    return Settings(**values)
