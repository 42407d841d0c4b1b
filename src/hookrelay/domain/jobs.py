"""The job state machine and the job-level retry policy.

    pending ──► processing ──► completed
       │            │  ▲  └──► failed
       │            ▼  │
       │         retrying
       ▼            │
    cancelled ◄─────┘ (from pending, retrying or processing)

Every status write in the database is ``UPDATE … WHERE status IN (sources_for(target))``; this
table is the one place that says which sources are allowed.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from datetime import timedelta


class JobStatus(str, enum.Enum):
    PENDING = "pending"
    PROCESSING = "processing"
    RETRYING = "retrying"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})

ALLOWED_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset({JobStatus.PROCESSING, JobStatus.CANCELLED}),
    JobStatus.RETRYING: frozenset({JobStatus.PROCESSING, JobStatus.CANCELLED}),
    JobStatus.PROCESSING: frozenset(
        {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.RETRYING, JobStatus.CANCELLED}
    ),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}


def can_transition(source: JobStatus, target: JobStatus) -> bool:
    return target in ALLOWED_TRANSITIONS[source]


def sources_for(target: JobStatus) -> tuple[str, ...]:
    """The statuses a job may be in for an update to ``target`` to apply (sorted, for SQL)."""
    return tuple(sorted(s.value for s, targets in ALLOWED_TRANSITIONS.items() if target in targets))


# Terminal events recorded in the outbox with the status change.
EVENT_TYPE_FOR_STATUS = {
    JobStatus.COMPLETED: "job.completed",
    JobStatus.FAILED: "job.failed",
    JobStatus.CANCELLED: "job.cancelled",
}

BACKOFF_BASE = timedelta(seconds=1)
BACKOFF_CAP = timedelta(minutes=5)


def retry_backoff(
    attempts_made: int,
    *,
    base: timedelta = BACKOFF_BASE,
    cap: timedelta = BACKOFF_CAP,
    rand: Callable[[], float] = random.random,
) -> timedelta:
    """Delay before the next try after ``attempts_made`` tries: exponential, capped, jittered.

    The un-jittered delay is ``base * 2**(attempts_made-1)`` capped at ``cap``; the jitter keeps
    it within [delay/2, delay] so that retries of many jobs failing together spread out but a
    retry never waits longer than the exponential bound.
    """
    if attempts_made < 1:
        raise ValueError("attempts_made starts at 1")
    exponent = min(attempts_made - 1, 32)
    ceiling = min(base * (2**exponent), cap)
    return ceiling * (0.5 + 0.5 * rand())


def retry_after_hint(status: JobStatus) -> int | None:
    """Seconds a poller should wait before asking again; None once nothing will change."""
    if status.is_terminal:
        return None
    return 1 if status is JobStatus.PROCESSING else 2
