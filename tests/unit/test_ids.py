"""Prefixed, time-ordered ids (SPEC §3: ``app_``, ``job_``, ``evt_``, ``ep_``, ``dlv_``,
``att_``): shape, ordering by creation time, prefixes refused or recognised."""

from __future__ import annotations

import random
import re

import pytest

from hookrelay.domain.ids import PREFIXES, has_prefix, new_id

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
TAIL = re.compile(f"^[{CROCKFORD}]{{26}}$")
SPEC_PREFIXES = ["app", "job", "evt", "ep", "dlv", "att"]
NOW = 1_795_000_000_000  # an ms timestamp in 2026


def test_spec_prefixes_are_known() -> None:
    assert set(SPEC_PREFIXES) <= set(PREFIXES)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_prefix_and_length(prefix: str) -> None:
    identifier = new_id(prefix, now_ms=NOW)
    head, sep, tail = identifier.partition("_")
    assert head == prefix
    assert sep == "_"
    assert len(identifier) == len(prefix) + 1 + 26
    assert TAIL.match(tail), identifier


def test_tail_uses_crockford_alphabet_without_ambiguous_letters() -> None:
    rng = random.Random(7)
    seen: set[str] = set()
    for _ in range(500):
        tail = new_id("job", now_ms=rng.randrange(2**48), randomness=rng.randbytes(10))[4:]
        seen |= set(tail)
    assert seen <= set(CROCKFORD)
    assert not seen & set("ILOU")


def test_known_values() -> None:
    assert new_id("job", now_ms=0, randomness=bytes(10)) == "job_" + "0" * 26
    assert new_id("job", now_ms=2**48 - 1, randomness=b"\xff" * 10) == "job_7" + "Z" * 25
    assert new_id("evt", now_ms=1, randomness=bytes(10)) == "evt_" + "0" * 9 + "1" + "0" * 16


def test_deterministic_given_time_and_randomness() -> None:
    r = bytes(range(10))
    assert new_id("dlv", now_ms=NOW, randomness=r) == new_id("dlv", now_ms=NOW, randomness=r)


def test_random_by_default() -> None:
    ids = {new_id("evt", now_ms=NOW) for _ in range(1000)}
    assert len(ids) == 1000


def test_first_ten_characters_encode_the_timestamp() -> None:
    a = new_id("job", now_ms=NOW, randomness=bytes(10))
    b = new_id("job", now_ms=NOW, randomness=b"\xff" * 10)
    assert a[4:14] == b[4:14]
    assert a[14:] != b[14:]


def test_increasing_time_sorts_increasingly_as_strings() -> None:
    rng = random.Random(42)
    times = sorted(rng.sample(range(2**48), 500))
    ids = [new_id("job", now_ms=t, randomness=rng.randbytes(10)) for t in times]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_one_millisecond_later_sorts_after_whatever_the_randomness() -> None:
    late_small = new_id("job", now_ms=NOW + 1, randomness=bytes(10))
    early_big = new_id("job", now_ms=NOW, randomness=b"\xff" * 10)
    assert early_big < late_small


def test_consecutive_milliseconds_over_a_range_sort() -> None:
    ids = [new_id("att", now_ms=NOW + i) for i in range(2000)]
    assert ids == sorted(ids)


@pytest.mark.parametrize("prefix", ["", "jobs", "JOB", "usr", "job_", "evt ", "x"])
def test_unknown_prefix_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        new_id(prefix, now_ms=NOW)


# --- has_prefix ------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
def test_has_prefix_true_for_own_ids(prefix: str) -> None:
    assert has_prefix(new_id(prefix, now_ms=NOW), prefix)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_has_prefix_false_for_other_prefixes(prefix: str) -> None:
    identifier = new_id(prefix, now_ms=NOW)
    for other in PREFIXES:
        if other != prefix:
            assert not has_prefix(identifier, other)


@pytest.mark.parametrize(
    "identifier",
    [
        "",
        "job",
        "job_",
        "job_" + "0" * 25,
        "job_" + "0" * 27,
        "job" + "0" * 27,
        "jobx" + "0" * 26,
        "JOB_" + "0" * 26,
        "evt_" + "0" * 26,
    ],
)
def test_has_prefix_rejects_wrong_shape(identifier: str) -> None:
    assert not has_prefix(identifier, "job")


def test_has_prefix_ep_vs_evt() -> None:
    assert has_prefix("ep_" + "0" * 26, "ep")
    assert not has_prefix("ep_" + "0" * 26, "e")
    assert not has_prefix("evt_" + "0" * 26, "ep")
