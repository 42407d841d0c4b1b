"""Event-type names, subscription patterns and wildcard matching."""

from __future__ import annotations

import pytest

from hookrelay.domain.matching import (
    MATCH_ALL,
    MAX_EVENT_TYPE_LENGTH,
    is_valid_event_type,
    is_valid_pattern,
    matches,
)


@pytest.mark.parametrize(
    "value",
    [
        "a",
        "invoice.paid",
        "job.completed",
        "webhook.test",
        "endpoint.disabled",
        "Order_Created-v2",
        "a.b.c.d",
        "0",
        ".",
        "x" * MAX_EVENT_TYPE_LENGTH,
    ],
)
def test_valid_event_types(value: str) -> None:
    assert is_valid_event_type(value)
    assert is_valid_pattern(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "x" * (MAX_EVENT_TYPE_LENGTH + 1),
        "invoice paid",
        "invoice/paid",
        "invoice:paid",
        "job.*",
        "*",
        "caf\u00e9.paid",  # only ASCII letters
        "\uff41",  # fullwidth "a"
        "job.completed\n",
        " job.completed",
        None,
        42,
    ],
)
def test_invalid_event_types(value: object) -> None:
    assert not is_valid_event_type(value)


@pytest.mark.parametrize(
    "value",
    ["*", "job.*", "job*", "invoice.paid", "a*", "x" * MAX_EVENT_TYPE_LENGTH + "*"],
)
def test_valid_patterns(value: str) -> None:
    assert is_valid_pattern(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "**",
        "job.**",
        "*.completed",
        "job.*.x",
        "j*b",
        ".*bad regex",
        "x" * (MAX_EVENT_TYPE_LENGTH + 1) + "*",
        "job. *",
        None,
        ["*"],
    ],
)
def test_invalid_patterns(value: object) -> None:
    assert not is_valid_pattern(value)


@pytest.mark.parametrize(
    ("patterns", "event_type", "expected"),
    [
        (["*"], "anything.at.all", True),
        (["*"], "x", True),
        (["invoice.paid"], "invoice.paid", True),
        (["invoice.paid"], "invoice.paid.late", False),
        (["invoice.paid"], "invoice.pai", False),
        (["invoice.paid"], "Invoice.paid", False),  # case-sensitive
        (["job.*"], "job.completed", True),
        (["job.*"], "job.failed", True),
        (["job.*"], "job.", True),
        (["job.*"], "job", False),
        (["job.*"], "jobs.completed", False),
        (["job.*"], "xjob.completed", False),
        (["job*"], "jobs.completed", True),
        (["job*"], "job", True),
        (["job.*", "invoice.paid"], "invoice.paid", True),
        (["job.*", "invoice.paid"], "invoice.failed", False),
        (["invoice.paid", "*"], "whatever", True),
        ([], "job.completed", False),
        (["j*b"], "job", False),  # a '*' inside is literal, never a wildcard
        (["j*b"], "j*b", True),
    ],
)
def test_matches(patterns: list[str], event_type: str, expected: bool) -> None:
    assert matches(patterns, event_type) is expected


def test_matches_accepts_any_iterable() -> None:
    assert matches(iter(["job.*"]), "job.completed")
    assert matches(("invoice.paid",), "invoice.paid")


def test_match_all_constant() -> None:
    assert MATCH_ALL == "*"
    assert matches([MATCH_ALL], "endpoint.disabled")
