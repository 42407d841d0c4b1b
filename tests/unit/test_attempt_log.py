"""The worker's attempt lines: every failed attempt at info, successes only at debug (the
attempts table is the record of every attempt)."""

from __future__ import annotations

import io
import json
import sys
from datetime import UTC, datetime

import pytest
import structlog

from hookrelay.delivery.client import SendResult
from hookrelay.delivery import dispatcher
from hookrelay.delivery.dispatcher import Prepared, _log_attempt
from hookrelay.domain.outcomes import TransportError
from hookrelay.domain.retry import Dead, DeadReason, RetryAt, Succeeded
from hookrelay.logging import configure_logging, get_logger

ROW = {"id": "dlv_1", "event_id": "evt_1", "endpoint_id": "ep_1"}


@pytest.fixture
def configure(monkeypatch):
    """Logging at ``level`` into a fresh stream; returns a function reading its lines. Called
    from the test itself: pytest reassigns sys.stderr between a fixture's set-up and the test."""

    def configure_at(level: str):
        stream = io.StringIO()
        monkeypatch.setattr(sys, "stderr", stream)
        configure_logging("json", level)
        # structlog caches a module's logger at its first use; take one made after configuring.
        monkeypatch.setattr(dispatcher, "log", get_logger("hookrelay.delivery"))
        return lambda: [json.loads(line) for line in stream.getvalue().splitlines()]

    yield configure_at
    structlog.reset_defaults()


def _attempt(decision, result: SendResult) -> None:
    _log_attempt(Prepared(ROW, 2, None), result, decision)  # type: ignore[arg-type]


def test_failures_are_logged_and_successes_are_not_at_info(configure) -> None:
    lines = configure("info")
    _attempt(Succeeded(), SendResult(status=200, duration_ms=3.0))
    _attempt(RetryAt(datetime(2026, 1, 1, tzinfo=UTC)), SendResult(status=503, duration_ms=4.0))
    _attempt(Dead(DeadReason.RETRIES_EXHAUSTED), SendResult(status=None, error=TransportError.TIMEOUT))
    logged = lines()
    assert [(line["event"], line["decision"], line["status"]) for line in logged] == [
        ("delivery_attempt", "retryat", 503),
        ("delivery_attempt", "dead", None),
    ]
    assert logged[0]["delivery_id"] == "dlv_1" and logged[0]["attempt"] == 2
    assert logged[1]["error"] == str(TransportError.TIMEOUT)


def test_successes_are_logged_at_debug(configure) -> None:
    lines = configure("debug")
    _attempt(Succeeded(), SendResult(status=200, duration_ms=3.0))
    (line,) = lines()
    assert (line["level"], line["decision"], line["endpoint_id"]) == ("debug", "succeeded", "ep_1")
