"""The retry decision for a delivery: succeeded, try again at a given time, or dead.

``HOOKRELAY_RETRY_SCHEDULE`` (default ``0s,1h,3h,6h``) lists the delay before each attempt,
counted from the previous attempt; its length is the number of attempts. So after attempt
``n`` fails (``attempts_made == n``) the next attempt waits ``schedule[n]``, and once
``attempts_made == len(schedule)`` the delivery is dead with ``retries_exhausted``.

Two adjustments keep receivers healthy:

* **Jitter** of ±10% on every non-zero delay, so deliveries that failed together (an
  endpoint outage) do not all come back in the same second. Zero delays stay zero: "retry
  immediately" should mean immediately.
* **Retry-After** from the receiver may push the next attempt later than the jittered
  delay, but never beyond twice the scheduled delay, so one header cannot park a delivery
  for days, and never earlier than the jittered delay, so a receiver cannot pull retries in.

Pure: ``now`` and the random source are parameters; pass ``random.Random(seed).random`` in
tests or ``lambda: 0.0`` / ``lambda: 1.0`` to pin the jitter to its bounds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from hookrelay.domain.outcomes import Outcome

__all__ = [
    "JITTER",
    "Dead",
    "DeadReason",
    "Decision",
    "RetryAt",
    "Succeeded",
    "decide",
    "first_attempt_at",
    "jittered",
    "validate_schedule",
]

#: Fraction of a non-zero delay by which it may move either way.
JITTER = 0.10
#: Retry-After may stretch a scheduled delay up to this factor.
RETRY_AFTER_MAX_FACTOR = 2

Rand = Callable[[], float]


class DeadReason(StrEnum):
    """Why a delivery ended in the DLQ (the ``dead_reason`` the API shows)."""

    REJECTED = "rejected"
    GONE = "gone"
    RETRIES_EXHAUSTED = "retries_exhausted"


@dataclass(frozen=True, slots=True)
class Succeeded:
    """The attempt succeeded; the delivery is done."""


@dataclass(frozen=True, slots=True)
class RetryAt:
    """Schedule the next attempt at ``when``."""

    when: datetime


@dataclass(frozen=True, slots=True)
class Dead:
    """No more attempts; the delivery goes to the DLQ with ``reason``."""

    reason: DeadReason


Decision = Succeeded | RetryAt | Dead


def validate_schedule(schedule: Sequence[timedelta]) -> None:
    """Raise ValueError unless ``schedule`` has at least one delay and none is negative.

    Settings should call this once at start-up so a bad ``HOOKRELAY_RETRY_SCHEDULE`` stops
    the process instead of failing inside a worker.
    """
    if len(schedule) == 0:
        raise ValueError("the retry schedule needs at least one attempt")
    for delay in schedule:
        if not isinstance(delay, timedelta):
            raise TypeError("retry schedule entries must be timedelta")
        if delay < timedelta(0):
            raise ValueError(f"retry schedule delays cannot be negative: {delay}")


def jittered(delay: timedelta, rand: Rand) -> timedelta:
    """Return ``delay`` moved by up to ±JITTER: ``rand() == 0`` gives −10%, ``1`` gives +10%.

    ``rand`` is not called for a zero delay. Raises ValueError if it returns a value outside
    ``[0, 1]``, which would break the jitter bounds.
    """
    if delay <= timedelta(0):
        return timedelta(0)
    r = rand()
    if not 0.0 <= r <= 1.0:
        raise ValueError(f"rand() must return a float in [0, 1], got {r!r}")
    return delay * (1 + JITTER * (2 * r - 1))


def first_attempt_at(schedule: Sequence[timedelta], now: datetime, rand: Rand) -> datetime:
    """When to make a new delivery's first attempt: ``now`` plus the jittered ``schedule[0]``."""
    validate_schedule(schedule)
    return now + jittered(schedule[0], rand)


def decide(
    attempts_made: int,
    outcome: Outcome,
    *,
    schedule: Sequence[timedelta],
    now: datetime,
    rand: Rand,
    retry_after: timedelta | None = None,
) -> Decision:
    """Decide what happens to a delivery after an attempt with ``outcome``.

    Args:
        attempts_made: attempts made so far, including the one that produced ``outcome``
            (so 1 after the first attempt).
        outcome: the classified result of that attempt.
        schedule: the delays of ``HOOKRELAY_RETRY_SCHEDULE``.
        now: when the attempt finished; the next attempt is counted from it.
        rand: a source of floats in ``[0, 1]`` for the jitter.
        retry_after: the parsed ``Retry-After`` of the answer, if any.

    Returns:
        ``Succeeded()``, ``RetryAt(when)`` or ``Dead(reason)``.
    """
    if isinstance(attempts_made, bool) or not isinstance(attempts_made, int):
        raise TypeError("attempts_made must be an int")
    if attempts_made < 1:
        raise ValueError("decide() is called after an attempt, so attempts_made >= 1")
    outcome = Outcome(outcome)

    if outcome is Outcome.SUCCESS:
        return Succeeded()
    if outcome is Outcome.DEAD_REJECTED:
        return Dead(DeadReason.REJECTED)
    if outcome is Outcome.GONE:
        return Dead(DeadReason.GONE)
    # Checked here, where the schedule is read: a worker decides every attempt's outcome, and
    # looking the schedule over for each success was a visible share of its CPU in a drain.
    validate_schedule(schedule)
    if attempts_made >= len(schedule):
        return Dead(DeadReason.RETRIES_EXHAUSTED)

    scheduled = schedule[attempts_made]
    delay = jittered(scheduled, rand)
    if retry_after is not None:
        delay = max(delay, min(retry_after, scheduled * RETRY_AFTER_MAX_FACTOR))
    return RetryAt(now + delay)
