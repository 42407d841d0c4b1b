"""The circuit breaker state machine: transitions, counting, cooldowns, probes, disabling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hookrelay.domain.breaker import (
    Admission,
    Breaker,
    BreakerPolicy,
    BreakerState,
    admit,
    from_columns,
    hold_until,
    on_failure,
    on_success,
    reset,
    should_disable,
    to_columns,
)

NOW = datetime(2026, 11, 22, 21, 50, 1, tzinfo=UTC)
MIN = timedelta(minutes=1)
LEASE = timedelta(seconds=30)
US = timedelta(microseconds=1)
# The SPEC defaults: threshold 10, cooldown 5m (doubling up to 1h), disable after 3d.
POLICY = BreakerPolicy(threshold=10, cooldown=5 * MIN, disable_after=timedelta(days=3))


def fail_times(b: Breaker, n: int, now: datetime = NOW) -> Breaker:
    for _ in range(n):
        b = on_failure(b, POLICY, now)
    return b


def opened(now: datetime = NOW) -> Breaker:
    b = fail_times(Breaker.closed(), POLICY.threshold, now)
    assert b.state is BreakerState.OPEN
    return b


def probing(delivery_id: str = "d_probe", now: datetime = NOW) -> Breaker:
    """An open breaker whose cooldown has passed and whose probe ``delivery_id`` is in flight."""
    b = opened(now)
    decision, b = admit(b, b.retry_at, delivery_id, LEASE)
    assert decision is Admission.PROBE
    return b


# -- counting and opening ---------------------------------------------------------------------


def test_closed_breaker_is_empty() -> None:
    assert Breaker.closed() == Breaker(state=BreakerState.CLOSED)
    assert reset() == Breaker.closed()
    assert Breaker.closed().consecutive_failures == 0


def test_threshold_minus_one_failures_stay_closed() -> None:
    b = fail_times(Breaker.closed(), POLICY.threshold - 1)
    assert b.state is BreakerState.CLOSED
    assert b.consecutive_failures == POLICY.threshold - 1
    assert b.opened_at is None and b.retry_at is None


def test_failure_at_threshold_opens_with_first_cooldown() -> None:
    b = fail_times(Breaker.closed(), POLICY.threshold - 1, NOW - MIN)
    b = on_failure(b, POLICY, NOW)
    assert b == Breaker(
        state=BreakerState.OPEN,
        consecutive_failures=POLICY.threshold,
        opened_at=NOW,
        retry_at=NOW + 5 * MIN,
        cooldown=5 * MIN,
    )


def test_success_resets_the_count() -> None:
    b = fail_times(Breaker.closed(), POLICY.threshold - 1)
    b = on_success(b, NOW)
    assert b == Breaker.closed()
    b = fail_times(b, POLICY.threshold - 1)
    assert b.state is BreakerState.CLOSED  # the count started again from zero


def test_threshold_of_one_opens_on_first_failure() -> None:
    policy = BreakerPolicy(threshold=1, cooldown=MIN, disable_after=timedelta(hours=1))
    assert on_failure(Breaker.closed(), policy, NOW).state is BreakerState.OPEN


@pytest.mark.parametrize(
    "kwargs",
    [
        {"threshold": 0},
        {"cooldown": timedelta(0)},
        {"cooldown": 2 * timedelta(hours=1)},  # longer than the default max_cooldown
        {"disable_after": timedelta(0)},
    ],
)
def test_policy_rejects_nonsense(kwargs: dict[str, object]) -> None:
    base: dict[str, object] = {"threshold": 3, "cooldown": MIN, "disable_after": MIN}
    with pytest.raises(ValueError):
        BreakerPolicy(**(base | kwargs))  # type: ignore[arg-type]


# -- success from every state -----------------------------------------------------------------


@pytest.mark.parametrize("make", [Breaker.closed, opened, probing])
def test_success_from_any_state_closes(make: object) -> None:
    b = make()  # type: ignore[operator]
    assert on_success(b, NOW + MIN) == Breaker.closed()


# -- admission --------------------------------------------------------------------------------


def test_closed_sends_and_is_unchanged() -> None:
    b = Breaker.closed()
    assert admit(b, NOW, "d1", LEASE) == (Admission.SEND, b)


def test_open_holds_until_retry_at() -> None:
    b = opened()
    assert admit(b, b.retry_at - US, "d1", LEASE) == (Admission.HOLD, b)
    assert hold_until(b) == NOW + 5 * MIN


def test_open_at_retry_at_admits_one_probe() -> None:
    b = opened()
    decision, after = admit(b, b.retry_at, "d1", LEASE)
    assert decision is Admission.PROBE
    assert after.state is BreakerState.HALF_OPEN
    assert after.probe_id == "d1"
    assert after.probe_expires_at == b.retry_at + LEASE
    assert after.opened_at == b.opened_at and after.cooldown == b.cooldown
    assert hold_until(after) == b.retry_at + LEASE


def test_probe_is_exclusive_at_the_same_instant() -> None:
    b = opened()
    when = b.retry_at + MIN
    first, b = admit(b, when, "d1", LEASE)
    second, b = admit(b, when, "d2", LEASE)
    third, b = admit(b, when, "d3", LEASE)
    assert (first, second, third) == (Admission.PROBE, Admission.HOLD, Admission.HOLD)
    assert b.probe_id == "d1"


def test_same_probe_is_readmitted_idempotently() -> None:
    b = probing("d1")
    decision, again = admit(b, b.probe_expires_at - US, "d1", LEASE)
    assert (decision, again) == (Admission.PROBE, b)


def test_live_probe_holds_others_until_one_microsecond_before_expiry() -> None:
    b = probing("d1")
    assert admit(b, b.probe_expires_at - US, "d2", LEASE) == (Admission.HOLD, b)


def test_expired_probe_frees_the_slot() -> None:
    b = probing("d1")
    expiry = b.probe_expires_at
    decision, b = admit(b, expiry, "d2", LEASE)
    assert decision is Admission.PROBE
    assert b.probe_id == "d2" and b.probe_expires_at == expiry + LEASE
    assert admit(b, expiry, "d3", LEASE)[0] is Admission.HOLD


def test_half_open_without_a_probe_admits_a_probe() -> None:
    b = Breaker(state=BreakerState.HALF_OPEN, opened_at=NOW, retry_at=NOW, cooldown=5 * MIN)
    decision, b = admit(b, NOW, "d1", LEASE)
    assert decision is Admission.PROBE and b.probe_id == "d1"


def test_hold_until_closed_is_none() -> None:
    assert hold_until(Breaker.closed()) is None


# -- failed probes and late failures ----------------------------------------------------------


def test_failed_probe_reopens_with_doubled_cooldown_keeping_opened_at() -> None:
    b = probing("d1")
    when = b.retry_at + 2 * LEASE / 3
    b = on_failure(b, POLICY, when)
    assert b == Breaker(
        state=BreakerState.OPEN,
        consecutive_failures=POLICY.threshold + 1,
        opened_at=NOW,
        retry_at=when + 10 * MIN,
        cooldown=10 * MIN,
    )


def test_cooldown_doubles_up_to_one_hour() -> None:
    b = opened()
    cooldowns = [b.cooldown]
    for _ in range(6):
        decision, b = admit(b, b.retry_at, f"probe-{len(cooldowns)}", LEASE)
        assert decision is Admission.PROBE
        b = on_failure(b, POLICY, b.retry_at)
        cooldowns.append(b.cooldown)
    assert cooldowns == [m * MIN for m in (5, 10, 20, 40, 60, 60, 60)]


def test_late_failure_while_open_counts_but_keeps_retry_at() -> None:
    b = opened()
    late = on_failure(b, POLICY, NOW + 4 * MIN)
    assert late.state is BreakerState.OPEN
    assert late.consecutive_failures == b.consecutive_failures + 1
    assert (late.retry_at, late.opened_at, late.cooldown) == (b.retry_at, b.opened_at, b.cooldown)


def test_late_failure_of_another_delivery_while_half_open_keeps_the_probe() -> None:
    b = probing("d1")
    late = on_failure(b, POLICY, b.retry_at + US, delivery_id="d_old")
    assert late.state is BreakerState.HALF_OPEN and late.probe_id == "d1"
    assert late.consecutive_failures == b.consecutive_failures + 1
    probe_failed = on_failure(late, POLICY, b.retry_at + US, delivery_id="d1")
    assert probe_failed.state is BreakerState.OPEN and probe_failed.cooldown == 10 * MIN


# -- disabling --------------------------------------------------------------------------------


def test_disable_exactly_at_the_boundary() -> None:
    b = opened()
    assert not should_disable(b, POLICY, NOW + timedelta(days=3) - US)
    assert should_disable(b, POLICY, NOW + timedelta(days=3))


def test_failed_probes_do_not_push_opened_at() -> None:
    b = opened()
    for _ in range(100):  # bounded: 3 days of hourly probes is about 75 rounds
        if b.retry_at >= NOW + timedelta(days=3):
            break
        decision, b = admit(b, b.retry_at, "p", LEASE)
        assert decision is Admission.PROBE
        assert not should_disable(b, POLICY, b.retry_at)
        b = on_failure(b, POLICY, b.retry_at)
    assert b.retry_at >= NOW + timedelta(days=3)
    assert b.opened_at == NOW
    assert should_disable(b, POLICY, NOW + timedelta(days=3))
    assert should_disable(probing(), POLICY, NOW + timedelta(days=3))  # half-open too


def test_closed_or_recovered_breaker_is_never_disabled() -> None:
    far = NOW + timedelta(days=30)
    assert not should_disable(Breaker.closed(), POLICY, far)
    assert not should_disable(on_success(opened(), NOW), POLICY, far)


# -- persistence ------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [Breaker.closed, opened, probing])
def test_columns_round_trip(make: object) -> None:
    b = make()  # type: ignore[operator]
    assert from_columns(to_columns(b)) == b


def test_column_names_and_types() -> None:
    columns = to_columns(probing("d1"))
    assert columns == {
        "breaker_state": "half_open",
        "breaker_failures": POLICY.threshold,
        "breaker_opened_at": NOW,
        "breaker_retry_at": NOW + 5 * MIN,
        "breaker_cooldown_seconds": 300.0,
        "breaker_probe_id": "d1",
        "breaker_probe_expires_at": NOW + 5 * MIN + LEASE,
    }


def test_naive_datetimes_from_sqlite_are_read_as_utc() -> None:
    row = to_columns(opened()) | {"breaker_opened_at": NOW.replace(tzinfo=None)}
    assert from_columns(row).opened_at == NOW
