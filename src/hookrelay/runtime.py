"""Process-wide tuning for the long-running servers (API and worker processes)."""

from __future__ import annotations

import asyncio
import gc

# Collections of the youngest generation every 20,000 net allocations instead of 700: a request
# allocates hundreds of objects, and the default made the collector run several times per
# request batch, adding tail latency without finding cycles to free.
YOUNG_GENERATION_THRESHOLD = 20_000


def settle_heap() -> None:
    """Call once start-up is done: everything alive now (modules, the app, SQLAlchemy's tables)
    lives for the whole process, so move it out of the collector's sight. Without this, each
    full collection walked those objects again and stalled the event loop for tens of ms
    (``POST /v1/jobs`` p99 fell from about 140 ms to about 60 ms on ``make bench``)."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, oldest)


def use_uvloop() -> bool:
    """Make event loops created from now on uvloop's, where it is installed (not on Windows).
    The API gets it from uvicorn; a worker process needs it before Dramatiq's AsyncIO middleware
    creates the loop its actors run on. A worker then spends about a tenth less CPU per
    delivery (``bench.cpu_split drain``): the HTTP exchanges, the database's replies and the
    timers are all event-loop callbacks. Returns whether uvloop is in use."""
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True
