"""The built-in job types: ``demo.echo``, ``demo.sleep`` and ``demo.fail``."""

from __future__ import annotations

import asyncio
from typing import Any

from hookrelay.jobs.registry import JobContext, JobError, job


@job("demo.echo", max_attempts=1, timeout="30s")
async def echo(payload: Any, ctx: JobContext) -> Any:
    return payload


@job("demo.sleep", max_attempts=3, timeout="10m")
async def sleep(payload: Any, ctx: JobContext) -> dict:
    """Sleep ``seconds`` in ``steps`` equal parts, reporting progress after each."""
    payload = payload if isinstance(payload, dict) else {}
    seconds = float(payload.get("seconds", 1))
    steps = max(1, int(payload.get("steps", 1)))
    if not 0 <= seconds <= 3600:
        raise JobError("invalid_input", "seconds must be between 0 and 3600")
    for number in range(1, steps + 1):
        await asyncio.sleep(seconds / steps)
        await ctx.progress(round(100 * number / steps), step=f"step {number}/{steps}")
    return {"slept_seconds": seconds, "steps": steps}


@job("demo.fail", max_attempts=3, timeout="1m")
async def fail(payload: Any, ctx: JobContext) -> None:
    """Fail with the structured error described by the input."""
    payload = payload if isinstance(payload, dict) else {}
    raise JobError(
        str(payload.get("code", "demo_failure")),
        str(payload.get("message", "demo.fail was asked to fail")),
        retryable=bool(payload.get("retryable", False)),
        step=payload.get("step"),
    )
