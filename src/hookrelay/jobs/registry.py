"""Job types by name, registered with ``@job``.

    @job("report.generate", max_attempts=3, timeout="10m")
    async def generate(input: dict, ctx: JobContext) -> dict:
        await ctx.progress(45, step="render")
        return {"url": ...}

A handler returns the JSON result, or raises ``JobError`` (code, message, retryable, step).
Any other exception counts as a retryable ``handler_error``.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from hookrelay.domain.durations import parse_duration


class JobError(Exception):
    """A structured failure a handler raises on purpose."""

    def __init__(self, code: str, message: str, *, retryable: bool = False, step: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.step = step

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "retryable": self.retryable, "failed_step": self.step}


class JobContext(Protocol):
    job_id: str
    attempt: int

    async def progress(self, percent: int, step: str | None = None) -> None: ...


Handler = Callable[[Any, JobContext], Awaitable[Any]]


@dataclass(frozen=True)
class JobType:
    name: str
    handler: Handler
    max_attempts: int
    timeout: timedelta
    backoff_base: timedelta


_registry: dict[str, JobType] = {}


def job(
    name: str, *, max_attempts: int = 3, timeout: str = "10m", backoff: str = "1s"
) -> Callable[[Handler], Handler]:
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    timeout_value, backoff_value = parse_duration(timeout), parse_duration(backoff)

    def register(handler: Handler) -> Handler:
        if not inspect.iscoroutinefunction(handler):
            raise TypeError(f"job handler {name!r} must be an async function")
        existing = _registry.get(name)
        if existing is not None and existing.handler is not handler:
            raise ValueError(f"job type {name!r} is already registered")
        _registry[name] = JobType(name, handler, max_attempts, timeout_value, backoff_value)
        return handler

    return register


def get_job_type(name: str) -> JobType | None:
    return _registry.get(name)


def registered_names() -> list[str]:
    return sorted(_registry)


def load_job_modules(modules: tuple[str, ...]) -> None:
    """Import the built-in demo handlers and every module named in HOOKRELAY_JOB_MODULES."""
    importlib.import_module("hookrelay.jobs.demo")
    for module in modules:
        importlib.import_module(module)
