"""Duration strings as written in HOOKRELAY_* settings (SPEC §2): ``250ms``, ``30s``, ``5m``,
``1h``, ``3d``; comma lists; the shortest exact spelling back."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hookrelay.domain.durations import format_duration, parse_duration, parse_duration_list


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("250ms", timedelta(milliseconds=250)),
        ("1ms", timedelta(milliseconds=1)),
        ("0ms", timedelta(0)),
        ("30s", timedelta(seconds=30)),
        ("0s", timedelta(0)),
        ("5m", timedelta(minutes=5)),
        ("90m", timedelta(minutes=90)),
        ("1h", timedelta(hours=1)),
        ("24h", timedelta(hours=24)),
        ("3d", timedelta(days=3)),
        ("30d", timedelta(days=30)),
    ],
)
def test_every_unit(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


def test_m_means_minutes_not_milliseconds_or_months() -> None:
    assert parse_duration("1m") == timedelta(seconds=60)
    assert parse_duration("1ms") == timedelta(seconds=0.001)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.5s", timedelta(milliseconds=1500)),
        ("0.5s", timedelta(milliseconds=500)),
        ("1.5h", timedelta(minutes=90)),
        ("0.25m", timedelta(seconds=15)),
        ("0.5d", timedelta(hours=12)),
        ("2.5ms", timedelta(microseconds=2500)),
        ("007s", timedelta(seconds=7)),
    ],
)
def test_decimals(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", [" 30s", "30s ", "  30s  ", "30 s", "\t30s\n", " 30 s "])
def test_surrounding_whitespace_is_tolerated(text: str) -> None:
    assert parse_duration(text) == timedelta(seconds=30)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "10",
        "5x",
        "-1s",
        "+1s",
        "1.5.2s",
        "s",
        "ms",
        ".5s",
        "5.s",
        "1e3s",
        "5S",
        "5 seconds",
        "5sec",
        "1h30m",
        "5s5",
        "1,5s",
        "0x10s",
        "5 m s",
        "inf s",
        "nans",
    ],
)
def test_garbage_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("text", ["9999999999d", "9" * 400 + "s"], ids=["huge-days", "inf-seconds"])
def test_out_of_range_duration_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_out_of_range_item_in_list_raises_value_error() -> None:
    with pytest.raises(ValueError):
        parse_duration_list("0s,9999999999d")


def test_error_names_the_value_and_the_accepted_forms() -> None:
    with pytest.raises(ValueError) as info:
        parse_duration("5x")
    message = str(info.value)
    assert "'5x'" in message
    for example in ("250ms", "30s", "5m", "1h", "3d"):
        assert example in message


def test_none_is_refused_with_value_error() -> None:
    with pytest.raises(ValueError):
        parse_duration(None)  # type: ignore[arg-type]


# --- lists ----------------------------------------------------------------------------------


def test_default_retry_schedule_list() -> None:
    assert parse_duration_list("0s,1h,3h,6h") == (
        timedelta(0),
        timedelta(hours=1),
        timedelta(hours=3),
        timedelta(hours=6),
    )


def test_list_returns_tuple_preserving_order() -> None:
    result = parse_duration_list("6h,1s,3m")
    assert isinstance(result, tuple)
    assert result == (timedelta(hours=6), timedelta(seconds=1), timedelta(minutes=3))


def test_single_item_list() -> None:
    assert parse_duration_list("5m") == (timedelta(minutes=5),)


def test_list_items_may_be_spaced() -> None:
    assert parse_duration_list(" 0s , 1h,  3h ,6h ") == (
        timedelta(0),
        timedelta(hours=1),
        timedelta(hours=3),
        timedelta(hours=6),
    )


def test_list_mixed_units_and_decimals() -> None:
    assert parse_duration_list("250ms,1.5s,2d") == (
        timedelta(milliseconds=250),
        timedelta(milliseconds=1500),
        timedelta(days=2),
    )


@pytest.mark.parametrize(
    "text",
    ["", " ", ",", "0s,", ",0s", "0s,,1h", "0s, ,1h", "0s,1h,", " , "],
)
def test_empty_items_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration_list(text)


@pytest.mark.parametrize("text", ["0s,1x", "10,1h", "0s;1h", "0s 1h", "1h,-1h", "abc"])
def test_bad_item_in_list_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration_list(text)


# --- format_duration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (timedelta(milliseconds=250), "250ms"),
        (timedelta(seconds=30), "30s"),
        (timedelta(minutes=5), "5m"),
        (timedelta(hours=1), "1h"),
        (timedelta(days=3), "3d"),
        (timedelta(hours=24), "1d"),
        (timedelta(minutes=60), "1h"),
        (timedelta(seconds=60), "1m"),
        (timedelta(milliseconds=1000), "1s"),
        (timedelta(minutes=90), "90m"),
        (timedelta(seconds=1.5), "1500ms"),
        (timedelta(hours=36), "36h"),
        (timedelta(0), "0ms"),
    ],
)
def test_format_shortest_exact_spelling(value: timedelta, expected: str) -> None:
    assert format_duration(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        timedelta(0),
        timedelta(milliseconds=1),
        timedelta(milliseconds=250),
        timedelta(milliseconds=1500),
        timedelta(seconds=1),
        timedelta(seconds=59),
        timedelta(seconds=61),
        timedelta(minutes=5),
        timedelta(minutes=90),
        timedelta(hours=1),
        timedelta(hours=25),
        timedelta(days=3),
        timedelta(days=30),
        timedelta(days=400, milliseconds=7),
    ],
)
def test_format_round_trips_through_parse(value: timedelta) -> None:
    assert parse_duration(format_duration(value)) == value


@pytest.mark.parametrize(
    "text", ["250ms", "30s", "5m", "1h", "3d", "15s", "60s", "24h", "1.5s", "0.5d", "0s"]
)
def test_parse_then_format_then_parse_is_stable(text: str) -> None:
    value = parse_duration(text)
    assert parse_duration(format_duration(value)) == value
