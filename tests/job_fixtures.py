"""Job handlers used by the tests, loaded the way users load theirs: HOOKRELAY_JOB_MODULES."""

from __future__ import annotations

import asyncio

from hookrelay.jobs import JobContext, job


@job("test.slow", max_attempts=2, timeout="200ms", backoff="10ms")
async def slow(payload: dict, ctx: JobContext) -> dict:
    await asyncio.sleep(2)
    return {"never": True}


@job("test.crash", max_attempts=2, backoff="10ms")
async def crash(payload: dict, ctx: JobContext) -> None:
    raise KeyError("missing")


@job("test.unserializable", max_attempts=1)
async def unserializable(payload: dict, ctx: JobContext) -> object:
    return {"when": object()}


@job("test.progress_then_wait", max_attempts=1)
async def progress_then_wait(payload: dict, ctx: JobContext) -> dict:
    await ctx.progress(10, step="first")
    await asyncio.sleep(float(payload.get("pause", 0.3)))
    await ctx.progress(50, step="second")
    return {"done": True}
