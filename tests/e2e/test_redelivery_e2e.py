"""Redelivery, replay, discard and recover end to end: real processes and a verifying receiver."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.receiver import Behaviour, Receiver, always
from tests.e2e.test_delivery_e2e import (  # noqa: F401  (the module's stack fixture)
    attempts_of,
    create_endpoint,
    only_delivery,
    publish,
    stack,
    wait_for_delivery,
)

pytestmark = pytest.mark.e2e


def dead_delivery(api, receiver: Receiver, path: str, event_type: str = "invoice.paid") -> tuple[dict, dict, dict]:
    """An endpoint that answers 400, and one event whose delivery is therefore dead."""
    receiver.set_behaviour(path, always(400))
    endpoint = create_endpoint(api, receiver, path, event_types=[event_type])
    event = publish(api, event_type, {"path": path})
    delivery = wait_for_delivery(api, only_delivery(event, endpoint)["id"], "dead", timeout=20)
    assert delivery["dead_reason"] == "rejected"
    return endpoint, event, delivery


def test_a_dead_delivery_redelivered_to_a_healthy_receiver_succeeds(api, receiver):
    path = "/redeliver"
    _, event, delivery = dead_delivery(api, receiver, path)
    receiver.set_behaviour(path, Behaviour(status=200))
    time.sleep(1.1)  # so the redelivery's timestamp differs from the first attempt's
    response = api.post(f"/v1/deliveries/{delivery['id']}/redeliver")
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "succeeded" and response.json()["attempts"] == 2
    first, second = receiver.requests(path)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == event["id"]
    assert first.body == second.body
    assert second.verified and second.headers["webhook-timestamp"] != first.headers["webhook-timestamp"]
    attempts = attempts_of(api, delivery["id"])
    assert [(a["number"], a["trigger"], a["outcome"]) for a in attempts] == [
        (1, "scheduled", "failure"), (2, "manual", "success"),
    ]
    assert api.get("/v1/dlq", params={"endpoint_id": delivery["endpoint_id"]}).json()["data"] == []


def test_a_failed_redelivery_leaves_the_delivery_dead(api, receiver):
    path = "/redeliver-fails"
    _, _, delivery = dead_delivery(api, receiver, path)
    response = api.post(f"/v1/deliveries/{delivery['id']}/redeliver")
    assert response.status_code == 202
    assert response.json()["status"] == "dead" and response.json()["attempts"] == 2


def test_replay_by_filter_requeues_exactly_the_matching_dead_deliveries(api, receiver):
    path_a, path_b = "/replay-a", "/replay-b"
    endpoint_a, _, _ = dead_delivery(api, receiver, path_a, "invoice.paid")
    endpoint_b, _, other = dead_delivery(api, receiver, path_b, "invoice.voided")
    more = [publish(api, "invoice.paid", {"n": n}) for n in range(3)]
    for event in more:
        for delivery in event["deliveries"]:
            wait_for_delivery(api, delivery["id"], "dead", timeout=20)
    receiver.set_behaviour(path_a, Behaviour(status=200))
    response = api.post("/v1/dlq/replay", json={"endpoint_id": endpoint_a["id"], "reason": "rejected"})
    assert response.status_code == 202 and response.json() == {"requeued": 4}
    dead_a = api.get("/v1/deliveries", params={"endpoint_id": endpoint_a["id"], "limit": 50}).json()["data"]
    for delivery in dead_a:
        wait_for_delivery(api, delivery["id"], "succeeded", timeout=20)
    assert api.get(f"/v1/deliveries/{other['id']}").json()["status"] == "dead"
    replayed = [a for d in dead_a for a in attempts_of(api, d["id"]) if a["trigger"] == "replay"]
    assert len(replayed) == 4 and all(a["outcome"] == "success" for a in replayed)
    assert api.get("/v1/dlq", params={"endpoint_id": endpoint_b["id"]}).json()["data"]


def test_two_concurrent_replays_of_the_same_ids_send_each_once(api, receiver):
    path = "/replay-race"
    receiver.set_behaviour(path, always(400))
    create_endpoint(api, receiver, path)
    events = [publish(api, "order.created", {"n": n}) for n in range(10)]
    ids = [event["deliveries"][0]["id"] for event in events]
    for delivery_id in ids:
        wait_for_delivery(api, delivery_id, "dead", timeout=20)
    receiver.set_behaviour(path, Behaviour(status=200))
    before = len(receiver.requests(path))
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: api.post("/v1/dlq/replay", json={"ids": ids}), range(2)))
    assert all(a.status_code == 202 for a in answers)
    assert sum(a.json()["requeued"] for a in answers) == 10  # each delivery requeued by one of them
    for delivery_id in ids:
        wait_for_delivery(api, delivery_id, "succeeded", timeout=20)
    time.sleep(1)
    assert len(receiver.requests(path)) - before == 10


def test_discard_removes_a_delivery_from_the_dlq(api, receiver):
    path = "/discard"
    endpoint, _, delivery = dead_delivery(api, receiver, path)
    response = api.delete(f"/v1/dlq/{delivery['id']}")
    assert response.status_code == 200 and response.json()["status"] == "discarded"
    assert api.get("/v1/dlq", params={"endpoint_id": endpoint["id"]}).json()["data"] == []
    assert api.delete(f"/v1/dlq/{delivery['id']}").status_code == 409


def test_recover_requeues_only_the_window(api, receiver):
    path = "/recover"
    endpoint, _, early = dead_delivery(api, receiver, path)
    time.sleep(0.5)
    since = datetime.now(UTC)
    time.sleep(0.5)
    late_event = publish(api, "invoice.paid", {"late": True})
    late = wait_for_delivery(api, late_event["deliveries"][0]["id"], "dead", timeout=20)
    receiver.set_behaviour(path, Behaviour(status=200))
    response = api.post(
        f"/v1/endpoints/{endpoint['id']}/recover",
        json={"since": since.isoformat().replace("+00:00", "Z"),
              "until": (datetime.now(UTC) + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")},
    )
    assert response.status_code == 202 and response.json() == {"requeued": 1}
    wait_for_delivery(api, late["id"], "succeeded", timeout=20)
    assert api.get(f"/v1/deliveries/{early['id']}").json()["status"] == "dead"
    assert [a["trigger"] for a in attempts_of(api, late["id"])] == ["scheduled", "recover"]


def test_replaying_into_a_disabled_endpoint_is_refused_naming_it(api, receiver):
    path = "/replay-disabled"
    endpoint, _, delivery = dead_delivery(api, receiver, path)
    api.post(f"/v1/endpoints/{endpoint['id']}/disable")
    response = api.post("/v1/dlq/replay", json={"ids": [delivery["id"]]})
    assert response.status_code == 409 and endpoint["id"] in response.json()["detail"]
    assert api.post(f"/v1/deliveries/{delivery['id']}/redeliver").status_code == 409
