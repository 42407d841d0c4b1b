"""The per-endpoint circuit breaker as a pure state machine (SPEC §5 "Circuit breaker").

The breaker lives as ``breaker_*`` columns on the endpoints row and is shared by every worker
and scheduler. Nothing here reads a clock or does I/O: each function takes ``now`` and returns
a *new* :class:`Breaker`; the caller persists it with a guarded ``UPDATE`` (compare the old
``breaker_state`` / ``breaker_probe_id`` in the ``WHERE``) so that when two processes race,
one write wins and the loser re-reads and calls again.

::

    reset(), or on_success() from any state
          |
          v          failure reaching threshold: opened_at=now,
    +-----------+    cooldown=policy.cooldown, retry_at=now+cooldown  +-----------+
    |  CLOSED   | --------------------------------------------------> |   OPEN    | <-+ late
    +-----------+                                                     +-----------+ --+ failure:
      ^    | failure below threshold:               admit() at/after    |     ^        count+1,
      |    +-> count+1, stays CLOSED                retry_at: the first |     | probe  retry_at
      |                                             caller gets PROBE   v     | fails  unchanged
      |  probe succeeds                                               +-----------+
      +-------------------------------------------------------------- | HALF_OPEN |
                                                                      +-----------+
    HALF_OPEN, admit(): live probe -> HOLD; same id -> PROBE again; expired -> new PROBE.
    Probe fails -> OPEN: cooldown x2 (capped), retry_at=now+cooldown, opened_at kept.

Why each rule exists:

* **Threshold of consecutive failures.** One 500 is noise; ``threshold`` failures in a row
  with no success between them is an outage. Any success resets the count.
* **Open holds instead of failing.** While open, due deliveries are held (``HOLD``) and spend
  no attempt, so an outage does not burn every delivery's retry schedule.
* **Exactly one probe.** At/after ``retry_at`` the first caller of :func:`admit` gets
  ``PROBE`` and the breaker records its delivery id; everyone else is held until the probe's
  result is known. Re-admitting the same delivery id is idempotent (a redelivered message).
* **Probes expire.** The worker carrying the probe may die without reporting. After
  ``probe_expires_at`` the slot is free again and the next caller becomes the probe, so a
  lost probe cannot hold the endpoint forever.
* **Doubling cooldown, capped.** Each failed probe doubles the wait (5m, 10m, 20m, 40m, 1h,
  1h, ...) so a long outage is probed less and less often, but at least once per
  ``max_cooldown``.
* **``opened_at`` survives failed probes.** It marks the start of the outage, not of the
  latest cooldown; otherwise every failed probe would restart the ``disable_after`` clock and
  a dead endpoint would never be disabled.
* **Late failures while open do not move ``retry_at``.** Attempts that started before the
  breaker opened may report afterwards; pushing the probe time back for each of them would
  postpone recovery for no new information.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

__all__ = [
    "Admission",
    "Breaker",
    "BreakerPolicy",
    "BreakerState",
    "admit",
    "from_columns",
    "hold_until",
    "on_failure",
    "on_success",
    "reset",
    "should_disable",
    "to_columns",
]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Admission(StrEnum):
    """What :func:`admit` tells a worker about one due delivery."""

    SEND = "send"  # breaker closed: attempt normally
    HOLD = "hold"  # breaker open or a probe is in flight: do not attempt, spend no attempt
    PROBE = "probe"  # this delivery is the one probe: attempt it and report the result


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerPolicy:
    """Settings that drive the breaker (``HOOKRELAY_BREAKER_*``, ``HOOKRELAY_DISABLE_AFTER``)."""

    threshold: int
    cooldown: timedelta
    max_cooldown: timedelta = timedelta(hours=1)
    disable_after: timedelta

    def __post_init__(self) -> None:
        if self.threshold < 1:
            raise ValueError("breaker threshold must be at least 1")
        if self.cooldown <= timedelta(0):
            raise ValueError("breaker cooldown must be positive")
        if self.max_cooldown < self.cooldown:
            raise ValueError("max_cooldown must not be shorter than cooldown")
        if self.disable_after <= timedelta(0):
            raise ValueError("disable_after must be positive")


@dataclass(frozen=True, slots=True)
class Breaker:
    state: BreakerState
    consecutive_failures: int = 0
    opened_at: datetime | None = None  # start of the current outage; kept across failed probes
    retry_at: datetime | None = None  # when a probe may be sent
    cooldown: timedelta | None = None  # current cooldown; doubles after each failed probe
    probe_id: str | None = None  # delivery id of the probe in flight (half-open only)
    probe_expires_at: datetime | None = None  # after this the probe slot is free again

    @classmethod
    def closed(cls) -> Breaker:
        return cls(state=BreakerState.CLOSED)


def reset() -> Breaker:
    """A fresh closed breaker: used when an endpoint is enabled again."""
    return Breaker.closed()


def on_success(b: Breaker, now: datetime) -> Breaker:
    """Any success, from any state, closes the breaker and clears every counter."""
    del b, now  # a success is proof of health whatever came before
    return Breaker.closed()


def on_failure(
    b: Breaker, policy: BreakerPolicy, now: datetime, *, delivery_id: str | None = None
) -> Breaker:
    """Record one failed attempt.

    ``delivery_id`` (optional) lets a half-open breaker tell its probe's failure from a late
    failure of another attempt: when given and different from ``probe_id``, the failure is
    only counted and the probe stays in flight. Without it, a half-open failure is taken to
    be the probe's.
    """
    failures = b.consecutive_failures + 1
    if b.state is BreakerState.CLOSED:
        if failures < policy.threshold:
            return replace(b, consecutive_failures=failures)
        return Breaker(
            state=BreakerState.OPEN,
            consecutive_failures=failures,
            opened_at=now,
            retry_at=now + policy.cooldown,
            cooldown=policy.cooldown,
        )
    if b.state is BreakerState.OPEN:
        # A late result of an attempt that started before the breaker opened.
        return replace(b, consecutive_failures=failures)
    if delivery_id is not None and delivery_id != b.probe_id:
        return replace(b, consecutive_failures=failures)
    cooldown = min((b.cooldown or policy.cooldown) * 2, policy.max_cooldown)
    return Breaker(
        state=BreakerState.OPEN,
        consecutive_failures=failures,
        opened_at=b.opened_at if b.opened_at is not None else now,
        retry_at=now + cooldown,
        cooldown=cooldown,
    )


def admit(
    b: Breaker, now: datetime, delivery_id: str, probe_lease: timedelta
) -> tuple[Admission, Breaker]:
    """May ``delivery_id`` be attempted now? Returns the decision and the breaker to store."""
    if b.state is BreakerState.CLOSED:
        return Admission.SEND, b
    if b.state is BreakerState.OPEN:
        if b.retry_at is not None and now < b.retry_at:
            return Admission.HOLD, b
        return Admission.PROBE, _with_probe(b, now, delivery_id, probe_lease)
    if b.probe_id == delivery_id:
        return Admission.PROBE, b
    if _probe_live(b, now):
        return Admission.HOLD, b
    return Admission.PROBE, _with_probe(b, now, delivery_id, probe_lease)


def should_disable(b: Breaker, policy: BreakerPolicy, now: datetime) -> bool:
    """True once the breaker has been open ``disable_after`` without a success."""
    if b.state is BreakerState.CLOSED or b.opened_at is None:
        return False
    return now - b.opened_at >= policy.disable_after


def hold_until(b: Breaker) -> datetime | None:
    """When held deliveries should next be looked at; ``None`` when nothing is held.

    Open: ``retry_at`` (the probe time). Half-open: ``probe_expires_at``, the latest moment
    the probe's slot can free up (its result usually arrives sooner and wakes them).
    """
    if b.state is BreakerState.OPEN:
        return b.retry_at
    if b.state is BreakerState.HALF_OPEN:
        return b.probe_expires_at
    return None


def to_columns(b: Breaker) -> dict[str, Any]:
    return {
        "breaker_state": b.state.value,
        "breaker_failures": b.consecutive_failures,
        "breaker_opened_at": b.opened_at,
        "breaker_retry_at": b.retry_at,
        "breaker_cooldown_seconds": None if b.cooldown is None else b.cooldown.total_seconds(),
        "breaker_probe_id": b.probe_id,
        "breaker_probe_expires_at": b.probe_expires_at,
    }


def from_columns(row: Mapping[str, Any]) -> Breaker:
    """Inverse of :func:`to_columns`. Naive datetimes (SQLite drops the zone) are read as UTC."""
    seconds = row["breaker_cooldown_seconds"]
    return Breaker(
        state=BreakerState(row["breaker_state"]),
        consecutive_failures=int(row["breaker_failures"] or 0),
        opened_at=_aware(row["breaker_opened_at"]),
        retry_at=_aware(row["breaker_retry_at"]),
        cooldown=None if seconds is None else timedelta(seconds=float(seconds)),
        probe_id=row["breaker_probe_id"],
        probe_expires_at=_aware(row["breaker_probe_expires_at"]),
    )


def _with_probe(b: Breaker, now: datetime, delivery_id: str, lease: timedelta) -> Breaker:
    return replace(
        b, state=BreakerState.HALF_OPEN, probe_id=delivery_id, probe_expires_at=now + lease
    )


def _probe_live(b: Breaker, now: datetime) -> bool:
    # A probe without an expiry (an inconsistent row) is treated as expired, never as eternal.
    if b.probe_id is None or b.probe_expires_at is None:
        return False
    return now < b.probe_expires_at


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
