"""Outcome classification, row by row through SPEC §5 "Outcomes and retries"."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from hookrelay.domain.outcomes import (
    MAX_RETRY_AFTER,
    AttemptResult,
    Outcome,
    TransportError,
    classify,
    parse_retry_after,
)

NOW = datetime(2026, 11, 22, 21, 50, 1, tzinfo=timezone.utc)


def http(status: int, *, retry_4xx: bool = False) -> Outcome:
    return classify(AttemptResult.http(status), retry_4xx=retry_4xx)


# --- row: 2xx -> succeeded -------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202, 204, 226, 299])
def test_2xx_is_success(status: int) -> None:
    assert http(status) is Outcome.SUCCESS
    assert http(status, retry_4xx=True) is Outcome.SUCCESS


# --- row: 3xx -> retry (redirects are not followed) ------------------------------------------


@pytest.mark.parametrize("status", [300, 301, 302, 303, 304, 307, 308, 399])
def test_3xx_is_retried_not_followed(status: int) -> None:
    assert http(status) is Outcome.RETRY


# --- row: 408, 409, 425, 429 -> retry --------------------------------------------------------


@pytest.mark.parametrize("status", [408, 409, 425, 429])
def test_transient_4xx_is_retried(status: int) -> None:
    assert http(status) is Outcome.RETRY
    assert http(status, retry_4xx=True) is Outcome.RETRY


# --- row: 5xx -> retry -----------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 501, 502, 503, 504, 507, 599])
def test_5xx_is_retried(status: int) -> None:
    assert http(status) is Outcome.RETRY


# --- row: timeout, connection error -> retry -------------------------------------------------


@pytest.mark.parametrize("kind", list(TransportError))
def test_every_transport_error_is_retried(kind: TransportError) -> None:
    assert classify(AttemptResult.failed(kind)) is Outcome.RETRY
    assert classify(AttemptResult.failed(kind), retry_4xx=True) is Outcome.RETRY


def test_transport_error_accepts_plain_strings() -> None:
    assert AttemptResult.failed("timeout").error is TransportError.TIMEOUT
    assert AttemptResult(error="connection").error is TransportError.CONNECTION  # type: ignore[arg-type]
    assert classify(AttemptResult.failed("connection")) is Outcome.RETRY


def test_unknown_transport_error_kind_is_a_bug() -> None:
    with pytest.raises(ValueError):
        AttemptResult.failed("timout")


# --- row: 410 -> gone ------------------------------------------------------------------------


def test_410_is_gone_even_when_retrying_4xx() -> None:
    assert http(410) is Outcome.GONE
    assert http(410, retry_4xx=True) is Outcome.GONE


# --- row: any other 4xx -> dead (rejected), unless HOOKRELAY_RETRY_4XX -----------------------


OTHER_4XX = [400, 401, 402, 403, 404, 405, 406, 407, 411, 412, 413, 415, 418, 422, 426, 451, 499]


@pytest.mark.parametrize("status", OTHER_4XX)
def test_other_4xx_is_rejected(status: int) -> None:
    assert http(status) is Outcome.DEAD_REJECTED


@pytest.mark.parametrize("status", OTHER_4XX)
def test_other_4xx_is_retried_with_retry_4xx(status: int) -> None:
    assert http(status, retry_4xx=True) is Outcome.RETRY


def test_every_4xx_is_covered_by_exactly_the_rules() -> None:
    for status in range(400, 500):
        expected = (
            Outcome.GONE
            if status == 410
            else Outcome.RETRY
            if status in {408, 409, 425, 429}
            else Outcome.DEAD_REJECTED
        )
        assert http(status) is expected, status


# --- odd statuses ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [100, 101, 103, 600, 999])
def test_informational_and_nonstandard_statuses_are_retried(status: int) -> None:
    assert http(status) is Outcome.RETRY


@pytest.mark.parametrize("status", [0, 99, 1000, -200])
def test_out_of_range_status_is_refused(status: int) -> None:
    with pytest.raises(ValueError):
        AttemptResult.http(status)


@pytest.mark.parametrize("status", ["200", 200.0, True])
def test_non_int_status_is_refused(status: object) -> None:
    with pytest.raises(TypeError):
        AttemptResult.http(status)  # type: ignore[arg-type]


def test_result_needs_exactly_one_of_status_and_error() -> None:
    with pytest.raises(ValueError):
        AttemptResult()
    with pytest.raises(ValueError):
        AttemptResult(status=500, error=TransportError.TIMEOUT)


def test_outcome_values_and_is_success() -> None:
    assert [o.value for o in Outcome] == ["success", "retry", "rejected", "gone"]
    assert [o for o in Outcome if o.is_success] == [Outcome.SUCCESS]


# --- Retry-After -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", timedelta(seconds=120)),
        ("  120 ", timedelta(seconds=120)),
        ("0", timedelta(0)),
        ("000", timedelta(0)),
        ("007", timedelta(seconds=7)),
        ("-5", timedelta(0)),
        ("-0", timedelta(0)),
    ],
)
def test_retry_after_delta_seconds(value: str, expected: timedelta) -> None:
    assert parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 22 Nov 2026 22:00:01 GMT",  # IMF-fixdate
        "Sunday, 22-Nov-26 22:00:01 GMT",  # obsolete RFC 850
        "Sun Nov 22 22:00:01 2026",  # obsolete asctime, zone-less means GMT
    ],
)
def test_retry_after_http_date_formats(value: str) -> None:
    assert parse_retry_after(value, NOW) == timedelta(minutes=10)


def test_retry_after_date_is_relative_to_now_in_any_zone() -> None:
    now_elsewhere = NOW.astimezone(timezone(timedelta(hours=-5)))
    assert parse_retry_after("Sun, 22 Nov 2026 22:00:01 GMT", now_elsewhere) == timedelta(
        minutes=10
    )


@pytest.mark.parametrize(
    "value", ["Sun, 22 Nov 2026 21:50:00 GMT", "Sun, 22 Nov 2026 21:50:01 GMT", "Thu, 01 Jan 1970 00:00:00 GMT"]
)
def test_retry_after_date_in_the_past_or_now_is_zero(value: str) -> None:
    assert parse_retry_after(value, NOW) == timedelta(0)


@pytest.mark.parametrize(
    "value",
    [None, "", "   ", "soon", "1.5", "12s", "1e3", "+5", "Sun, 99 Nov 2026 22:00:01 GMT", "٣"],
)
def test_retry_after_garbage_is_none(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None


def test_retry_after_huge_values_are_clamped() -> None:
    assert parse_retry_after("9" * 20, NOW) == MAX_RETRY_AFTER
    assert parse_retry_after("9" * 5000, NOW) == MAX_RETRY_AFTER
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", NOW) == MAX_RETRY_AFTER


def test_retry_after_needs_aware_now() -> None:
    with pytest.raises(ValueError):
        parse_retry_after("5", NOW.replace(tzinfo=None))
