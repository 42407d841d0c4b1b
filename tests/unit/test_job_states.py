"""The job state machine (SPEC §4): every transition, the SQL source sets, terminal states,
the job-level retry backoff and the Retry-After polling hint."""

from __future__ import annotations

import itertools
import random
from datetime import timedelta

import pytest

from hookrelay.domain.jobs import (
    ALLOWED_TRANSITIONS,
    BACKOFF_BASE,
    BACKOFF_CAP,
    EVENT_TYPE_FOR_STATUS,
    TERMINAL,
    JobStatus,
    can_transition,
    retry_after_hint,
    retry_backoff,
    sources_for,
)

PENDING = JobStatus.PENDING
PROCESSING = JobStatus.PROCESSING
RETRYING = JobStatus.RETRYING
COMPLETED = JobStatus.COMPLETED
FAILED = JobStatus.FAILED
CANCELLED = JobStatus.CANCELLED

# Written out by hand from SPEC §4, deliberately not derived from the module under test.
EXPECTED_ALLOWED: set[tuple[JobStatus, JobStatus]] = {
    (PENDING, PROCESSING),
    (PENDING, CANCELLED),
    (RETRYING, PROCESSING),
    (RETRYING, CANCELLED),
    (PROCESSING, COMPLETED),
    (PROCESSING, FAILED),
    (PROCESSING, RETRYING),
    (PROCESSING, CANCELLED),
}

ALL_STATUSES = [PENDING, PROCESSING, RETRYING, COMPLETED, FAILED, CANCELLED]
ALL_PAIRS = list(itertools.product(ALL_STATUSES, repeat=2))


def _pair_id(pair: tuple[JobStatus, JobStatus]) -> str:
    return f"{pair[0].value}->{pair[1].value}"


# --- the status enum -------------------------------------------------------------------------


def test_exactly_six_statuses_with_the_wire_spellings() -> None:
    assert {s.value for s in JobStatus} == {
        "pending",
        "processing",
        "retrying",
        "completed",
        "failed",
        "cancelled",
    }
    assert len(JobStatus) == 6


def test_status_is_a_str_enum_usable_as_its_wire_value() -> None:
    assert JobStatus("pending") is PENDING
    assert PENDING == "pending"
    with pytest.raises(ValueError):
        JobStatus("done")


def test_transition_table_covers_every_status_as_a_source() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(JobStatus)


# --- every (source, target) pair ---------------------------------------------------------------


def test_all_36_pairs_are_checked() -> None:
    assert len(ALL_PAIRS) == 36
    assert len(set(ALL_PAIRS)) == 36
    assert EXPECTED_ALLOWED <= set(ALL_PAIRS)


@pytest.mark.parametrize("pair", ALL_PAIRS, ids=_pair_id)
def test_can_transition_matches_expected_table(pair: tuple[JobStatus, JobStatus]) -> None:
    source, target = pair
    expected = pair in EXPECTED_ALLOWED
    assert can_transition(source, target) is expected, (
        f"{source.value} -> {target.value} should be {'allowed' if expected else 'refused'}"
    )


def test_allowed_transitions_table_equals_expected_table_exactly() -> None:
    actual = {(s, t) for s, targets in ALLOWED_TRANSITIONS.items() for t in targets}
    assert actual == EXPECTED_ALLOWED


@pytest.mark.parametrize("status", ALL_STATUSES, ids=lambda s: s.value)
def test_no_self_transition(status: JobStatus) -> None:
    assert not can_transition(status, status)


@pytest.mark.parametrize("terminal", [COMPLETED, FAILED, CANCELLED], ids=lambda s: s.value)
def test_terminal_status_goes_nowhere(terminal: JobStatus) -> None:
    assert ALLOWED_TRANSITIONS[terminal] == frozenset()
    assert not any(can_transition(terminal, target) for target in JobStatus)


@pytest.mark.parametrize("target", ALL_STATUSES, ids=lambda s: s.value)
def test_nothing_moves_back_to_pending(target: JobStatus) -> None:
    assert not can_transition(target, PENDING)


# --- sources_for (the WHERE status IN (...) of every guarded UPDATE) ---------------------------

EXPECTED_SOURCES = {
    PENDING: (),
    PROCESSING: ("pending", "retrying"),
    RETRYING: ("processing",),
    COMPLETED: ("processing",),
    FAILED: ("processing",),
    CANCELLED: ("pending", "processing", "retrying"),
}


@pytest.mark.parametrize("target", ALL_STATUSES, ids=lambda s: s.value)
def test_sources_for(target: JobStatus) -> None:
    assert sources_for(target) == EXPECTED_SOURCES[target]


@pytest.mark.parametrize("target", ALL_STATUSES, ids=lambda s: s.value)
def test_sources_for_is_sorted_tuple_of_plain_strings(target: JobStatus) -> None:
    sources = sources_for(target)
    assert isinstance(sources, tuple)
    assert list(sources) == sorted(sources)
    assert all(type(s) is str for s in sources)


@pytest.mark.parametrize("target", ALL_STATUSES, ids=lambda s: s.value)
def test_sources_for_agrees_with_expected_table(target: JobStatus) -> None:
    expected = tuple(sorted(s.value for (s, t) in EXPECTED_ALLOWED if t is target))
    assert sources_for(target) == expected


@pytest.mark.parametrize("target", ALL_STATUSES, ids=lambda s: s.value)
def test_no_terminal_status_is_ever_a_source(target: JobStatus) -> None:
    assert not {"completed", "failed", "cancelled"} & set(sources_for(target))


# --- is_terminal -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "terminal"),
    [
        (PENDING, False),
        (PROCESSING, False),
        (RETRYING, False),
        (COMPLETED, True),
        (FAILED, True),
        (CANCELLED, True),
    ],
    ids=lambda v: v.value if isinstance(v, JobStatus) else str(v),
)
def test_is_terminal(status: JobStatus, terminal: bool) -> None:
    assert status.is_terminal is terminal


def test_terminal_set() -> None:
    assert TERMINAL == {COMPLETED, FAILED, CANCELLED}


def test_terminal_events_exist_for_exactly_the_terminal_statuses() -> None:
    assert EVENT_TYPE_FOR_STATUS == {
        COMPLETED: "job.completed",
        FAILED: "job.failed",
        CANCELLED: "job.cancelled",
    }


# --- retry_backoff ---------------------------------------------------------------------------


def low() -> float:
    return 0.0


def high() -> float:
    return 1.0


def test_backoff_defaults() -> None:
    assert BACKOFF_BASE == timedelta(seconds=1)
    assert BACKOFF_CAP == timedelta(minutes=5)


@pytest.mark.parametrize(
    ("attempts", "full_seconds"),
    [(1, 1), (2, 2), (3, 4), (4, 8), (5, 16), (6, 32), (7, 64), (8, 128), (9, 256)],
)
def test_backoff_full_delay_with_rand_one(attempts: int, full_seconds: int) -> None:
    assert retry_backoff(attempts, rand=high) == timedelta(seconds=full_seconds)


@pytest.mark.parametrize(
    ("attempts", "full_seconds"),
    [(1, 1), (2, 2), (3, 4), (4, 8), (5, 16), (6, 32), (7, 64), (8, 128), (9, 256)],
)
def test_backoff_half_delay_with_rand_zero(attempts: int, full_seconds: int) -> None:
    assert retry_backoff(attempts, rand=low) == timedelta(seconds=full_seconds) / 2


def test_backoff_midpoint_with_rand_half() -> None:
    # delay * (0.5 + 0.5 * 0.5) = 0.75 * delay
    assert retry_backoff(3, rand=lambda: 0.5) == timedelta(seconds=3)


@pytest.mark.parametrize("attempts", [10, 11, 20, 33, 34, 100, 10_000])
def test_backoff_cap_respected_at_large_attempts(attempts: int) -> None:
    assert retry_backoff(attempts, rand=high) == BACKOFF_CAP
    assert retry_backoff(attempts, rand=low) == BACKOFF_CAP / 2


def test_backoff_just_below_and_above_cap() -> None:
    # 2**8 = 256 s < 300 s; 2**9 = 512 s > 300 s.
    assert retry_backoff(9, rand=high) == timedelta(seconds=256)
    assert retry_backoff(10, rand=high) == timedelta(seconds=300)


def test_backoff_is_monotonic_in_attempts_without_jitter() -> None:
    delays = [retry_backoff(n, rand=high) for n in range(1, 40)]
    assert delays == sorted(delays)
    assert max(delays) == BACKOFF_CAP


def test_backoff_custom_base_and_cap() -> None:
    base = timedelta(milliseconds=250)
    cap = timedelta(seconds=10)
    assert retry_backoff(1, base=base, cap=cap, rand=high) == timedelta(milliseconds=250)
    assert retry_backoff(3, base=base, cap=cap, rand=high) == timedelta(seconds=1)
    assert retry_backoff(3, base=base, cap=cap, rand=low) == timedelta(milliseconds=500)
    assert retry_backoff(50, base=base, cap=cap, rand=high) == cap
    assert retry_backoff(50, base=base, cap=cap, rand=low) == cap / 2


@pytest.mark.parametrize("attempts", [0, -1, -100])
def test_backoff_attempts_must_start_at_one(attempts: int) -> None:
    with pytest.raises(ValueError):
        retry_backoff(attempts, rand=high)


def test_backoff_returns_timedelta() -> None:
    assert isinstance(retry_backoff(1), timedelta)


@pytest.mark.parametrize("attempts", [1, 2, 3, 5, 8, 9, 10, 15, 50])
def test_backoff_jitter_stays_within_half_and_full_delay(attempts: int) -> None:
    rng = random.Random(1234 + attempts)
    full = timedelta(seconds=min(2 ** (attempts - 1), 300))  # base 1 s, cap 5 min
    draws = [retry_backoff(attempts, rand=rng.random) for _ in range(2000)]
    assert all(full / 2 <= d <= full for d in draws)
    # and the jitter really spreads them out over the window
    assert len(set(draws)) > 100
    assert min(draws) < full / 2 + (full / 2) * 0.1
    assert max(draws) > full - (full / 2) * 0.1


def test_backoff_uses_module_random_by_default() -> None:
    full = BACKOFF_BASE * 4
    for _ in range(200):
        d = retry_backoff(3)
        assert full / 2 <= d <= full


# --- retry_after_hint ------------------------------------------------------------------------


@pytest.mark.parametrize("status", [COMPLETED, FAILED, CANCELLED], ids=lambda s: s.value)
def test_no_retry_after_hint_once_terminal(status: JobStatus) -> None:
    assert retry_after_hint(status) is None


@pytest.mark.parametrize("status", [PENDING, PROCESSING, RETRYING], ids=lambda s: s.value)
def test_non_terminal_has_positive_integer_hint(status: JobStatus) -> None:
    hint = retry_after_hint(status)
    assert isinstance(hint, int) and not isinstance(hint, bool)
    assert hint >= 1


def test_retry_after_hint_values() -> None:
    assert retry_after_hint(PROCESSING) == 1
    assert retry_after_hint(PENDING) == 2
    assert retry_after_hint(RETRYING) == 2
