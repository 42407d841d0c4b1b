"""``plan_event``: the rows one event writes, shared by the SQLAlchemy path (``hookrelay dev``,
events caused by jobs) and the psycopg path of ``POST /v1/events``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hookrelay.services.events import plan_event

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CANDIDATES = [
    {"id": "ep_b", "event_types": ["invoice.*"]},
    {"id": "ep_a", "event_types": ["*"]},
    {"id": "ep_c", "event_types": ["customer.created"]},
]


def test_fans_out_to_matching_endpoints_with_the_exact_body():
    plan = plan_event(app_id="app_1", event_type="invoice.paid", data={"amount": 5}, now=NOW,
                      candidates=CANDIDATES, with_outbox=True)
    assert plan.id.startswith("evt_")
    assert sorted(row["endpoint_id"] for row in plan.delivery_rows) == ["ep_a", "ep_b"]
    assert [row["id"] for row in plan.delivery_rows] == sorted(row["id"] for row in plan.delivery_rows)
    body = json.loads(plan.event_row["body"])
    assert body["type"] == "invoice.paid" and body["data"] == {"amount": 5}
    assert plan.event_row["data"] == {"amount": 5} and plan.event_row["created_at"] == NOW
    for row in plan.delivery_rows:
        assert row["event_id"] == plan.id and row["status"] == "pending" and row["attempts"] == 0
        assert row["next_attempt_at"] == NOW and row["enqueued_at"] == NOW
    assert plan.announce


def test_without_an_outbox_the_scheduler_sends_them():
    plan = plan_event(app_id="app_1", event_type="invoice.paid", data={}, now=NOW, candidates=CANDIDATES)
    assert not plan.announce
    assert all(row["enqueued_at"] is None for row in plan.delivery_rows)


def test_a_delayed_first_attempt_is_not_announced():
    plan = plan_event(app_id="app_1", event_type="invoice.paid", data={}, now=NOW, candidates=CANDIDATES,
                      retry_schedule=(timedelta(hours=1),), with_outbox=True)
    assert not plan.announce
    assert all(row["next_attempt_at"] > NOW for row in plan.delivery_rows)


def test_only_endpoint_targets_one_whatever_its_subscriptions():
    plan = plan_event(app_id="app_1", event_type="invoice.paid", data={}, now=NOW, candidates=CANDIDATES,
                      only_endpoint_id="ep_c")
    assert [row["endpoint_id"] for row in plan.delivery_rows] == ["ep_c"]


def test_no_matching_endpoint_still_records_the_event():
    plan = plan_event(app_id="app_1", event_type="order.shipped", data={}, now=NOW,
                      candidates=[{"id": "ep_c", "event_types": ["customer.created"]}])
    assert plan.delivery_rows == [] and plan.event_row["type"] == "order.shipped"
