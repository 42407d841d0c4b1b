"""Webhook delivery end to end: real api, worker and scheduler processes and a real receiver.

The receiver (tests/e2e/receiver.py) verifies every request with the ``standardwebhooks``
library, as a merchant would. The retry schedule is shortened to 0s,1s,2s,3s and the attempt
timeout to 2s, so the SPEC's timings can be measured at the receiver. Each test has its own
application and its own receiver path(s), so the tests do not see each other's deliveries.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from typing import Any

import httpx
import pytest
import redis

from tests.conftest import REDIS_URL
from tests.e2e.conftest import DELIVERY_ENV, Stack, running_stack
from tests.e2e.receiver import Receiver, always, fail_then_ok, hang_then_ok

pytestmark = pytest.mark.e2e

SCHEDULE = [0.0, 1.0, 2.0, 3.0]  # HOOKRELAY_RETRY_SCHEDULE below, in seconds
JITTER_WINDOWS = {1.0: (0.85, 1.5), 2.0: (1.75, 2.6), 3.0: (2.65, 3.7)}  # ±10% plus slack for polling


@pytest.fixture(scope="module")
def stack(e2e_database_url: str, tmp_path_factory) -> Stack:
    """Overrides the jobs stack for this module (conftest's ``api`` fixture then uses this one)."""
    with running_stack(
        e2e_database_url, tmp_path_factory.mktemp("delivery-stack-logs"),
        HOOKRELAY_RETRY_SCHEDULE="0s,1s,2s,3s", **DELIVERY_ENV,
    ) as running:
        yield running


# -- helpers -------------------------------------------------------------------------------


def eventually(probe: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Call ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout}s; last seen: {last!r}")


def create_endpoint(api: httpx.Client, receiver: Receiver, path: str, **fields: Any) -> dict:
    response = api.post("/v1/endpoints", json={"url": receiver.url(path), **fields})
    assert response.status_code == 201, response.text
    endpoint = response.json()
    assert endpoint["id"].startswith("ep_")
    assert endpoint["url"] == receiver.url(path)
    assert endpoint["secret"].startswith("whsec_")
    assert endpoint["status"] == "enabled" and endpoint["disabled_reason"] is None
    assert endpoint["event_types"] == fields.get("event_types", ["*"])
    receiver.set_secret(path, endpoint["secret"])
    return endpoint


def publish(api: httpx.Client, event_type: str, data: dict) -> dict:
    response = api.post("/v1/events", json={"type": event_type, "data": data})
    assert response.status_code == 202, response.text
    event = response.json()
    assert event["id"].startswith("evt_") and event["type"] == event_type and event["data"] == data
    return event


def only_delivery(event: dict, endpoint: dict) -> dict:
    assert [d["endpoint_id"] for d in event["deliveries"]] == [endpoint["id"]], event
    delivery = event["deliveries"][0]
    assert delivery["id"].startswith("dlv_") and delivery["event_id"] == event["id"]
    return delivery


def wait_for_delivery(api: httpx.Client, delivery_id: str, status: str, timeout: float) -> dict:
    def probe() -> dict | None:
        response = api.get(f"/v1/deliveries/{delivery_id}")
        assert response.status_code == 200, response.text
        delivery = response.json()
        return delivery if delivery["status"] == status else None

    try:
        return eventually(probe, timeout, f"delivery {delivery_id} to become {status}", interval=0.1)
    except AssertionError as error:
        raise AssertionError(f"{error}\nnow: {api.get(f'/v1/deliveries/{delivery_id}').text}") from None


def attempts_of(api: httpx.Client, delivery_id: str) -> list[dict]:
    response = api.get(f"/v1/deliveries/{delivery_id}/attempts")
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["next_cursor"] is None
    return sorted(page["data"], key=lambda attempt: attempt["number"])


def lower_keys(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def gaps(requests: list) -> list[float]:
    return [later.arrived_at - earlier.arrived_at for earlier, later in pairwise(requests)]


def assert_gaps_follow_schedule(requests: list) -> None:
    for number, gap in enumerate(gaps(requests), start=2):
        low, high = JITTER_WINDOWS[SCHEDULE[number - 1]]
        assert low <= gap <= high, f"attempt {number} came {gap:.3f}s after the previous one, not in [{low}, {high}]"


def assert_same_webhook(requests: list) -> None:
    """Every attempt of one delivery: verified, same webhook-id and the exact same body bytes."""
    assert all(r.verified for r in requests), [r.verify_error for r in requests]
    assert {r.headers["webhook-id"] for r in requests} == {requests[0].json()["id"]}
    assert {r.body for r in requests} == {requests[0].body}
    assert [r.headers["hookrelay-attempt"] for r in requests] == [str(n) for n in range(1, len(requests) + 1)]


# -- tests ---------------------------------------------------------------------------------


def test_completed_job_arrives_signed_with_the_job_as_data(api, receiver):
    path = "/job-completed"
    endpoint = create_endpoint(api, receiver, path, event_types=["job.*"], headers={"X-Tenant": "acme"})

    response = api.post("/v1/jobs", json={"type": "demo.echo", "input": {"order": 42}})
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    job = api.get(f"/v1/jobs/{job_id}", params={"wait": 20}).json()
    assert job["status"] == "completed", job

    [request] = receiver.wait_for(path, 1, timeout=20)
    assert request.verified, request.verify_error
    body = request.json()
    assert set(body) == {"id", "type", "created_at", "data"}
    assert body["id"].startswith("evt_") and body["type"] == "job.completed"
    assert set(body["data"]) == set(job)
    for field in ("id", "type", "status", "progress", "result", "error", "attempts", "input", "metadata",
                  "created_at", "started_at", "finished_at"):
        assert body["data"][field] == job[field], field
    assert body["data"]["status"] == "completed" and body["data"]["result"] == {"order": 42}

    headers = request.headers
    assert headers["content-type"].startswith("application/json")
    assert headers["user-agent"].startswith("hookrelay/")
    assert headers["webhook-id"] == body["id"] == headers["idempotency-key"]
    assert abs(int(headers["webhook-timestamp"]) - request.arrived_at) < 5
    assert re.fullmatch(r"(v1,[A-Za-z0-9+/]+=*)( v1,[A-Za-z0-9+/]+=*)*", headers["webhook-signature"])
    assert headers["hookrelay-attempt"] == "1"
    assert headers["hookrelay-event-type"] == "job.completed"
    assert headers["x-tenant"] == "acme"

    event = api.get(f"/v1/events/{body['id']}").json()
    assert event["type"] == "job.completed" and event["data"] == body["data"]
    delivery = only_delivery(event, endpoint)
    assert headers["hookrelay-delivery-id"] == delivery["id"]
    delivery = wait_for_delivery(api, delivery["id"], "succeeded", timeout=10)
    assert delivery["attempts"] == 1 and delivery["last_response_status"] == 200
    assert delivery["event_type"] == "job.completed"
    time.sleep(1.0)
    assert receiver.count(path) == 1, "a succeeded delivery was sent again"


def test_two_failures_then_success_takes_three_attempts_on_schedule(api, receiver):
    path = "/fails-twice"
    receiver.set_behaviour(path, fail_then_ok(2, status=500))
    endpoint = create_endpoint(api, receiver, path)
    event = publish(api, "invoice.paid", {"invoice": "in_1", "amount": 1200})
    delivery = only_delivery(event, endpoint)

    requests = receiver.wait_for(path, 3, timeout=20)
    assert [r.status for r in requests] == [500, 500, 200]
    assert_same_webhook(requests)
    assert requests[0].json() == {"id": event["id"], "type": "invoice.paid", "created_at": event["created_at"],
                                  "data": {"invoice": "in_1", "amount": 1200}}
    assert_gaps_follow_schedule(requests)
    assert {r.headers["hookrelay-delivery-id"] for r in requests} == {delivery["id"]}

    delivery = wait_for_delivery(api, delivery["id"], "succeeded", timeout=10)
    assert delivery["attempts"] == 3
    assert delivery["last_response_status"] == 200
    assert delivery["dead_reason"] is None and delivery["next_attempt_at"] is None
    assert delivery["event_id"] == event["id"] and delivery["endpoint_id"] == endpoint["id"]

    response = api.get(f"/v1/deliveries/{delivery['id']}/attempts")
    assert "whsec_" not in response.text
    assert endpoint["secret"].removeprefix("whsec_") not in response.text
    attempts = attempts_of(api, delivery["id"])
    assert [a["number"] for a in attempts] == [1, 2, 3]
    assert [a["outcome"] for a in attempts] == ["failure", "failure", "success"]
    assert [a["response"]["status"] for a in attempts] == [500, 500, 200]
    assert [a["response"]["body"] for a in attempts] == ["answered 500", "answered 500", "answered 200"]
    assert all(a["trigger"] == "scheduled" and a["id"].startswith("att_") for a in attempts)
    assert attempts[2]["error"] is None
    for attempt, request in zip(attempts, requests):
        assert attempt["request"]["url"] == receiver.url(path)
        sent = lower_keys(attempt["request"]["headers"])
        assert sent["webhook-id"] == event["id"]
        assert sent["webhook-timestamp"] == request.headers["webhook-timestamp"]
        assert isinstance(attempt["duration_ms"], (int, float)) and attempt["duration_ms"] >= 0
    time.sleep(1.5)
    assert receiver.count(path) == 3, "a succeeded delivery was attempted again"


def test_always_failing_receiver_gets_four_attempts_then_the_delivery_is_dead(api, receiver):
    path = "/always-500"
    receiver.set_behaviour(path, always(500))
    endpoint = create_endpoint(api, receiver, path)
    delivery = only_delivery(publish(api, "invoice.paid", {"invoice": "in_2"}), endpoint)

    requests = receiver.wait_for(path, 4, timeout=25)
    assert_same_webhook(requests)
    assert_gaps_follow_schedule(requests)
    delivery = wait_for_delivery(api, delivery["id"], "dead", timeout=10)
    assert delivery["dead_reason"] == "retries_exhausted"
    assert delivery["attempts"] == 4 and delivery["last_response_status"] == 500
    assert delivery["next_attempt_at"] is None
    attempts = attempts_of(api, delivery["id"])
    assert [(a["number"], a["outcome"], a["response"]["status"]) for a in attempts] == [
        (n, "failure", 500) for n in (1, 2, 3, 4)
    ]
    dlq = api.get("/v1/dlq", params={"endpoint_id": endpoint["id"]})
    assert dlq.status_code == 200, dlq.text
    assert [item["id"] for item in dlq.json()["data"]] == [delivery["id"]]
    time.sleep(4.0)  # longer than any scheduled gap: nothing after the last attempt
    assert receiver.count(path) == 4


def test_400_is_dead_at_once_as_rejected(api, receiver):
    path = "/rejects-400"
    receiver.set_behaviour(path, always(400))
    endpoint = create_endpoint(api, receiver, path)
    delivery = only_delivery(publish(api, "invoice.paid", {"invoice": "in_3"}), endpoint)

    [request] = receiver.wait_for(path, 1, timeout=15)
    assert request.verified, request.verify_error
    delivery = wait_for_delivery(api, delivery["id"], "dead", timeout=10)
    assert delivery["dead_reason"] == "rejected"
    assert delivery["attempts"] == 1 and delivery["last_response_status"] == 400
    [attempt] = attempts_of(api, delivery["id"])
    assert attempt["outcome"] == "failure" and attempt["response"]["status"] == 400
    time.sleep(2.0)  # the 1s retry would have come by now
    assert receiver.count(path) == 1
    assert api.get(f"/v1/endpoints/{endpoint['id']}").json()["status"] == "enabled"


def test_410_disables_the_endpoint_as_gone(api, receiver):
    path = "/gone-410"
    receiver.set_behaviour(path, always(410))
    endpoint = create_endpoint(api, receiver, path)
    delivery = only_delivery(publish(api, "invoice.paid", {"invoice": "in_4"}), endpoint)

    [request] = receiver.wait_for(path, 1, timeout=15)
    assert request.verified, request.verify_error

    def disabled() -> dict | None:
        current = api.get(f"/v1/endpoints/{endpoint['id']}").json()
        return current if current["status"] == "disabled" else None

    current = eventually(disabled, 10, "endpoint to be disabled")
    assert current["disabled_reason"] == "gone"
    delivery = wait_for_delivery(api, delivery["id"], "dead", timeout=10)
    assert delivery["attempts"] == 1 and delivery["last_response_status"] == 410
    assert delivery["dead_reason"] is not None

    # A disabled endpoint gets no deliveries for new events.
    later = publish(api, "invoice.paid", {"invoice": "in_5"})
    assert later["deliveries"] == []
    time.sleep(2.0)
    assert receiver.count(path) == 1


def test_hanging_receiver_times_out_and_is_retried(api, receiver):
    path = "/hangs-once"
    receiver.set_behaviour(path, hang_then_ok(5.0, times=1))  # 5s > HOOKRELAY_DELIVERY_TIMEOUT=2s
    endpoint = create_endpoint(api, receiver, path)
    delivery = only_delivery(publish(api, "invoice.paid", {"invoice": "in_6"}), endpoint)

    first, second = receiver.wait_for(path, 2, timeout=20)
    assert_same_webhook([first, second])
    # The retry comes only after the first attempt gave up, and not much later than timeout + 1s.
    assert 1.8 <= second.arrived_at - first.arrived_at <= 6.0, gaps([first, second])

    delivery = wait_for_delivery(api, delivery["id"], "succeeded", timeout=10)
    assert delivery["attempts"] == 2
    timed_out, succeeded = attempts_of(api, delivery["id"])
    assert timed_out["number"] == 1 and timed_out["outcome"] == "failure"
    assert timed_out["response"] is None
    assert timed_out["error"] and re.search(r"time\s*d?\s*out", timed_out["error"], re.IGNORECASE), timed_out
    assert 1800 <= timed_out["duration_ms"] <= 4000, timed_out["duration_ms"]
    assert succeeded["number"] == 2 and succeeded["outcome"] == "success"
    assert succeeded["response"]["status"] == 200


def test_1500_deliveries_survive_a_killed_worker_and_a_flushed_redis(api, stack, receiver):
    """500 events × 3 endpoints; mid-run the worker is killed -9 and Redis flushed. Nothing is lost."""
    paths = [f"/chaos-{n}" for n in range(3)]
    endpoints = [create_endpoint(api, receiver, path, event_types=["invoice.paid"]) for path in paths]
    path_of_endpoint = {endpoint["id"]: path for endpoint, path in zip(endpoints, paths)}
    total_events = 500
    answers: dict[int, httpx.Response] = {}

    def post_events(numbers: range) -> None:
        with httpx.Client(base_url=stack.base_url, headers={"Authorization": api.headers["authorization"]},
                          timeout=30) as client:
            for n in numbers:
                answers[n] = client.post("/v1/events", json={"type": "invoice.paid", "data": {"n": n}})

    posting: list = []

    def posted() -> int:
        """How many events were answered so far; fails at once if one was refused or a poster broke."""
        refused = [r for r in list(answers.values()) if r.status_code != 202]
        assert not refused, f"POST /v1/events answered {refused[0].status_code}: {refused[0].text}"
        for future in posting:
            if future.done() and future.exception() is not None:
                raise future.exception()
        return len(answers)

    def arrived() -> int:
        posted()
        return sum(receiver.count(path) for path in paths)

    with ThreadPoolExecutor(max_workers=9) as pool:  # 8 posters + the first phase waiting on them

        def post_concurrently(numbers: range) -> None:
            futures = [pool.submit(post_events, numbers[start::8]) for start in range(8)]
            posting.extend(futures)
            for future in futures:
                future.result(timeout=120)

        # 1. 250 events while the worker delivers; it is killed -9 mid-run, with attempts in flight.
        first_phase = pool.submit(post_concurrently, range(250))
        eventually(lambda: arrived() >= 150, 60, "150 webhooks to arrive before the kill")
        killed_at, posted_at_kill = time.time(), posted()
        stack.kill("worker")
        first_phase.result(timeout=120)
        # 2. 150 events accepted while no worker runs; then Redis is flushed, so their messages
        #    (and whatever else was queued) are gone: only PostgreSQL knows about them.
        post_concurrently(range(250, 400))
        redis_client = redis.Redis.from_url(REDIS_URL)
        redis_client.flushdb()
        redis_client.close()
        # 3. A new worker, and 100 more events.
        stack.start_worker(threads=4)
        post_concurrently(range(400, total_events))
        posted()

    assert sorted(answers) == list(range(total_events))
    refused = {n: r.text for n, r in answers.items() if r.status_code != 202}
    assert not refused, f"{len(refused)} events refused, e.g. {next(iter(refused.items()))}"
    events = {n: r.json() for n, r in answers.items()}
    pair_of_delivery: dict[str, tuple[str, str]] = {}  # delivery id → (event id, receiver path)
    for n, event in events.items():
        assert event["data"] == {"n": n}
        assert sorted(d["endpoint_id"] for d in event["deliveries"]) == sorted(path_of_endpoint), event
        for delivery in event["deliveries"]:
            pair_of_delivery[delivery["id"]] = (event["id"], path_of_endpoint[delivery["endpoint_id"]])
    assert len(pair_of_delivery) == 3 * total_events

    expected_pairs = set(pair_of_delivery.values())

    def missing_pairs() -> set:
        seen = {(r.headers.get("webhook-id"), r.path) for path in paths for r in receiver.requests(path)}
        return expected_pairs - seen

    eventually(lambda: not missing_pairs(), 120, "every (event, endpoint) pair to reach the receiver", interval=0.5)

    def succeeded_ids() -> set[str]:
        found, cursor = set(), None
        while True:
            params = {"status": "succeeded", "limit": 500, **({"cursor": cursor} if cursor else {})}
            response = api.get("/v1/deliveries", params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            found |= {delivery["id"] for delivery in page["data"]}
            cursor = page["next_cursor"]
            if not cursor:
                return found

    eventually(lambda: succeeded_ids() >= set(pair_of_delivery), 60, "all 1500 deliveries to be succeeded",
               interval=1.0)
    assert succeeded_ids() == set(pair_of_delivery)
    assert api.get("/v1/deliveries", params={"status": "dead"}).json()["data"] == []

    # What the receivers saw: every request verified and consistent with its delivery.
    by_pair: dict[tuple[str, str], list] = defaultdict(list)
    by_delivery: dict[str, list] = defaultdict(list)
    number_of_event = {event["id"]: n for n, event in events.items()}
    for path in paths:
        for request in receiver.requests(path):
            assert request.verified, request.verify_error
            body = request.json()
            delivery_id = request.headers["hookrelay-delivery-id"]
            assert pair_of_delivery[delivery_id] == (request.headers["webhook-id"], path)
            assert body["id"] == request.headers["webhook-id"] == request.headers["idempotency-key"]
            assert body["data"] == {"n": number_of_event[body["id"]]}
            by_pair[(body["id"], path)].append(request)
            by_delivery[delivery_id].append(request)
    for delivery_id, requests in by_delivery.items():
        assert {r.headers["webhook-id"] for r in requests} == {pair_of_delivery[delivery_id][0]}
        assert len({r.body for r in requests}) == 1, f"{delivery_id} was sent with different bodies"

    # Duplicates only come from attempts in flight when the worker was killed.
    duplicated = {pair: requests for pair, requests in by_pair.items() if len(requests) > 1}
    assert all(len(requests) <= 2 for requests in duplicated.values()), {
        pair: len(requests) for pair, requests in duplicated.items() if len(requests) > 2
    }
    late = {pair: requests[0].arrived_at - killed_at for pair, requests in duplicated.items()
            if requests[0].arrived_at > killed_at + 1.0}
    assert not late, f"{len(late)} pairs sent twice although first sent after the kill: {list(late.items())[:5]}"
    print(f"chaos: {posted_at_kill} events posted at the kill, {len(duplicated)} duplicated pairs,"
          f" {sum(len(r) for r in by_pair.values())} requests for {len(expected_pairs)} pairs")
