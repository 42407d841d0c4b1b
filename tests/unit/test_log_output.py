"""hookrelay's own log lines: one JSON object per line on stderr, secrets masked, the logger's
name and bound context included, written whether stderr has a byte buffer or not (Dramatiq's
worker processes replace it with a pipe that has none)."""

from __future__ import annotations

import io
import json
import sys

import pytest
import structlog

from hookrelay.logging import configure_logging, get_logger

API_KEY = "hr_Zk3x9QmB2vL7pR1tY8wE4uI6oA0sD5fG-hJ_kLcVbNm"


class TextOnlyStream(io.StringIO):
    """Like Dramatiq's StreamablePipe: text writes only, no ``buffer``."""


@pytest.fixture
def restore_logging():
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


@pytest.mark.parametrize("with_buffer", [True, False])
def test_json_lines_carry_context_and_mask_secrets(monkeypatch, restore_logging, with_buffer):
    stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8") if with_buffer else TextOnlyStream()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging("json")
    log = get_logger("hookrelay.test")
    structlog.contextvars.bind_contextvars(request_id="req-1")
    log.info("something_happened", api_key=API_KEY, note=f"token {API_KEY}", count=3, thing=object())
    log.debug("not_shown")

    if with_buffer:
        stream.flush()
        text = stream.buffer.getvalue().decode()
    else:
        text = stream.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == 1, lines
    line = lines[0]
    assert line["event"] == "something_happened"
    assert line["logger"] == "hookrelay.test"
    assert line["level"] == "info"
    assert line["request_id"] == "req-1"
    assert line["count"] == 3
    assert line["api_key"] == "***"
    assert API_KEY not in text and line["note"].startswith("token hr_***")
    assert line["thing"].startswith("<object object")
    assert line["timestamp"].endswith("Z")


def test_exceptions_are_rendered_into_the_line(monkeypatch, restore_logging):
    stream = TextOnlyStream()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging("json")
    try:
        raise ValueError(f"bad key {API_KEY}")
    except ValueError:
        get_logger("hookrelay.test").exception("it_failed")
    line = json.loads(stream.getvalue())
    assert line["level"] == "error"
    assert "ValueError: bad key hr_***" in line["exception"]
    assert API_KEY not in stream.getvalue()


def test_level_by_name_lets_debug_lines_through(monkeypatch, restore_logging):
    stream = TextOnlyStream()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging("json", "debug")
    get_logger("hookrelay.test").debug("shown_at_debug")
    assert [json.loads(line)["event"] for line in stream.getvalue().splitlines()] == ["shown_at_debug"]


def test_timestamps_are_utc_to_the_microsecond_and_follow_the_clock_across_seconds(monkeypatch):
    import time
    from datetime import UTC, datetime

    from hookrelay import logging as hookrelay_logging

    def stamp_at(nanoseconds: int) -> str:
        monkeypatch.setattr(time, "time_ns", lambda: nanoseconds)
        return hookrelay_logging.add_timestamp(None, "info", {})["timestamp"]

    second = int(datetime(2026, 11, 30, 5, 6, 59, tzinfo=UTC).timestamp())
    assert stamp_at(second * 10**9 + 7_000) == "2026-11-30T05:06:59.000007Z"
    assert stamp_at(second * 10**9 + 999_999_999) == "2026-11-30T05:06:59.999999Z"
    # The next second, and the next minute: the remembered second is not reused.
    assert stamp_at((second + 1) * 10**9) == "2026-11-30T05:07:00.000000Z"
    assert stamp_at((second + 61) * 10**9 + 500_000_000) == "2026-11-30T05:08:00.500000Z"
    monkeypatch.undo()
    fresh = hookrelay_logging.add_timestamp(None, "info", {})["timestamp"]
    assert abs(datetime.fromisoformat(fresh).timestamp() - time.time()) < 5
