"""The retry decision: schedule boundaries, jitter bounds, Retry-After clamp, exhaustion."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from hookrelay.domain.outcomes import Outcome
from hookrelay.domain.retry import (
    Dead,
    DeadReason,
    RetryAt,
    Succeeded,
    decide,
    first_attempt_at,
    jittered,
    validate_schedule,
)

NOW = datetime(2026, 11, 22, 21, 50, 1, tzinfo=timezone.utc)
H = timedelta(hours=1)
DEFAULT = (timedelta(0), H, 3 * H, 6 * H)  # HOOKRELAY_RETRY_SCHEDULE default


def low() -> float:
    return 0.0


def high() -> float:
    return 1.0


def mid() -> float:
    return 0.5


def never() -> float:
    raise AssertionError("rand must not be called")


def retry(attempts_made: int, **kw: object) -> RetryAt | Dead | Succeeded:
    kw.setdefault("schedule", DEFAULT)
    kw.setdefault("now", NOW)
    kw.setdefault("rand", mid)
    return decide(attempts_made, Outcome.RETRY, **kw)  # type: ignore[arg-type]


# --- terminal outcomes -----------------------------------------------------------------------


@pytest.mark.parametrize("attempts", [1, 2, 4, 10])
def test_success_is_succeeded_at_any_attempt(attempts: int) -> None:
    assert decide(attempts, Outcome.SUCCESS, schedule=DEFAULT, now=NOW, rand=never) == Succeeded()


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [(Outcome.DEAD_REJECTED, "rejected"), (Outcome.GONE, "gone")],
)
def test_rejected_and_gone_are_dead_at_once(outcome: Outcome, reason: str) -> None:
    for attempts in (1, 2, 3):
        decision = decide(attempts, outcome, schedule=DEFAULT, now=NOW, rand=never)
        assert decision == Dead(DeadReason(reason))
        assert decision.reason == reason


def test_outcome_given_as_string_is_accepted() -> None:
    assert decide(1, "success", schedule=DEFAULT, now=NOW, rand=never) == Succeeded()  # type: ignore[arg-type]


# --- schedule boundaries ---------------------------------------------------------------------


@pytest.mark.parametrize(("attempts", "delay"), [(1, H), (2, 3 * H), (3, 6 * H)])
def test_each_retry_waits_the_next_scheduled_delay(attempts: int, delay: timedelta) -> None:
    assert retry(attempts) == RetryAt(NOW + delay)  # rand=0.5 means no jitter


def test_last_scheduled_attempt_failing_is_retries_exhausted() -> None:
    assert retry(3) == RetryAt(NOW + 6 * H)
    assert retry(4) == Dead(DeadReason.RETRIES_EXHAUSTED)
    assert retry(4).reason == "retries_exhausted"  # type: ignore[union-attr]
    assert retry(5) == Dead(DeadReason.RETRIES_EXHAUSTED)


def test_single_attempt_schedule_never_retries() -> None:
    assert retry(1, schedule=(timedelta(0),)) == Dead(DeadReason.RETRIES_EXHAUSTED)


def test_exhausted_is_dead_even_with_retry_after() -> None:
    assert retry(4, retry_after=timedelta(seconds=1)) == Dead(DeadReason.RETRIES_EXHAUSTED)


def test_e2e_style_short_schedule() -> None:
    schedule = (timedelta(0), timedelta(seconds=1), timedelta(seconds=2), timedelta(seconds=3))
    got = [retry(n, schedule=schedule) for n in (1, 2, 3, 4)]
    assert got == [
        RetryAt(NOW + timedelta(seconds=1)),
        RetryAt(NOW + timedelta(seconds=2)),
        RetryAt(NOW + timedelta(seconds=3)),
        Dead(DeadReason.RETRIES_EXHAUSTED),
    ]


def test_zero_delay_retry_is_immediate_and_unjittered() -> None:
    schedule = (timedelta(0), timedelta(0), H)
    assert retry(1, schedule=schedule, rand=never) == RetryAt(NOW)


@pytest.mark.parametrize("attempts", [0, -1])
def test_attempts_made_starts_at_one(attempts: int) -> None:
    with pytest.raises(ValueError):
        retry(attempts)


def test_attempts_made_must_be_int() -> None:
    with pytest.raises(TypeError):
        retry(True)  # type: ignore[arg-type]


# --- jitter ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("attempts", "delay"), [(1, H), (2, 3 * H), (3, 6 * H)])
def test_jitter_bounds_are_plus_minus_ten_percent(attempts: int, delay: timedelta) -> None:
    assert retry(attempts, rand=low) == RetryAt(NOW + delay * 0.9)
    assert retry(attempts, rand=high) == RetryAt(NOW + delay * 1.1)


def test_jitter_stays_within_bounds_for_random_draws() -> None:
    rng = random.Random(1234)
    whens = {retry(1, rand=rng.random).when for _ in range(500)}  # type: ignore[union-attr]
    assert min(whens) >= NOW + timedelta(minutes=54)
    assert max(whens) <= NOW + timedelta(minutes=66)
    assert len(whens) > 400  # the jitter actually spreads retries


def test_jitter_helper() -> None:
    assert jittered(timedelta(seconds=100), low) == timedelta(seconds=90)
    assert jittered(timedelta(seconds=100), mid) == timedelta(seconds=100)
    assert jittered(timedelta(seconds=100), high) == timedelta(seconds=110)
    assert jittered(timedelta(0), never) == timedelta(0)


@pytest.mark.parametrize("value", [-0.01, 1.01, float("nan")])
def test_rand_out_of_range_is_refused(value: float) -> None:
    with pytest.raises(ValueError):
        retry(1, rand=lambda: value)


# --- Retry-After -----------------------------------------------------------------------------


def test_retry_after_pushes_later_within_twice_the_delay() -> None:
    assert retry(1, retry_after=timedelta(minutes=90)) == RetryAt(NOW + timedelta(minutes=90))


def test_retry_after_is_clamped_to_twice_the_scheduled_delay() -> None:
    assert retry(1, retry_after=timedelta(hours=5)) == RetryAt(NOW + 2 * H)
    assert retry(2, retry_after=timedelta(days=30)) == RetryAt(NOW + 6 * H)
    # The cap is twice the *scheduled* delay, whatever the jitter drew.
    assert retry(1, retry_after=timedelta(hours=5), rand=low) == RetryAt(NOW + 2 * H)
    assert retry(1, retry_after=timedelta(hours=5), rand=high) == RetryAt(NOW + 2 * H)


def test_retry_after_exactly_twice_is_honoured() -> None:
    assert retry(1, retry_after=2 * H) == RetryAt(NOW + 2 * H)


def test_retry_after_never_pulls_the_retry_earlier() -> None:
    for rand, factor in ((low, 0.9), (mid, 1.0), (high, 1.1)):
        for ra in (timedelta(0), timedelta(seconds=5), H * 0.85):
            assert retry(1, retry_after=ra, rand=rand) == RetryAt(NOW + H * factor)


def test_retry_after_between_jittered_and_scheduled_delay_wins() -> None:
    # Jitter drew -10% (54 min); the receiver asked for 58 min: honour the receiver.
    assert retry(1, retry_after=timedelta(minutes=58), rand=low) == RetryAt(
        NOW + timedelta(minutes=58)
    )


def test_retry_after_cannot_delay_a_zero_delay_retry() -> None:
    schedule = (timedelta(0), timedelta(0))
    assert retry(1, schedule=schedule, retry_after=timedelta(minutes=5)) == RetryAt(NOW)


# --- first attempt and schedule validation ---------------------------------------------------


def test_first_attempt_is_immediate_with_default_schedule() -> None:
    assert first_attempt_at(DEFAULT, NOW, never) == NOW


def test_first_attempt_delay_is_jittered_when_non_zero() -> None:
    schedule = (timedelta(seconds=10), H)
    assert first_attempt_at(schedule, NOW, low) == NOW + timedelta(seconds=9)
    assert first_attempt_at(schedule, NOW, high) == NOW + timedelta(seconds=11)


@pytest.mark.parametrize(
    "schedule",
    [(), (timedelta(0), timedelta(seconds=-1))],
)
def test_bad_schedules_are_refused(schedule: tuple[timedelta, ...]) -> None:
    with pytest.raises(ValueError):
        validate_schedule(schedule)
    with pytest.raises(ValueError):
        first_attempt_at(schedule, NOW, mid)
    with pytest.raises(ValueError):
        retry(1, schedule=schedule)


def test_schedule_entries_must_be_timedeltas() -> None:
    with pytest.raises(TypeError):
        validate_schedule((0, 3600))  # type: ignore[arg-type]


def test_decisions_are_immutable_values() -> None:
    decision = retry(1)
    with pytest.raises(AttributeError):
        decision.when = NOW  # type: ignore[misc, union-attr]
    assert retry(1) == decision
