"""Circuit breakers and per-endpoint rate limits end to end: real api, two worker processes and
the scheduler, and a real receiver (tests/e2e/receiver.py) that verifies every request.

Timings: the breaker opens after 3 consecutive failed attempts and first probes 2s later
(then 4s, 8s, ... after each failed probe); an endpoint open for 15s without a success is
disabled. The retry schedule is ten attempts, 1s apart: every retry delay is shorter than the
cooldown, so retries run into the open breaker and are held (spending nothing), and no delivery
can run out of attempts before the breaker decides: a delivery attempted 3 times to open the
breaker and then probed at +2s, +6s and +14s has spent 6 attempts when the endpoint is disabled
at +15s, so its outcome is ``endpoint_disabled``, never ``retries_exhausted``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import DELIVERY_ENV, Stack, running_stack
from tests.e2e.receiver import Receiver

pytestmark = pytest.mark.e2e

THRESHOLD = 3
COOLDOWN = 2.0
DISABLE_AFTER = 15.0
SCHEDULE = "0s," + ",".join(["1s"] * 9)


@pytest.fixture(scope="module")
def stack(e2e_database_url: str, tmp_path_factory) -> Stack:
    """This module's stack (conftest's ``api`` fixture uses it): two worker processes."""
    with running_stack(
        e2e_database_url, tmp_path_factory.mktemp("breaker-stack-logs"), extra_workers=1,
        HOOKRELAY_RETRY_SCHEDULE=SCHEDULE,
        HOOKRELAY_BREAKER_THRESHOLD=str(THRESHOLD),
        HOOKRELAY_BREAKER_COOLDOWN=f"{COOLDOWN:g}s",
        HOOKRELAY_DISABLE_AFTER=f"{DISABLE_AFTER:g}s",
        **DELIVERY_ENV,
    ) as running:
        yield running


# -- helpers -------------------------------------------------------------------------------


def eventually(probe: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout}s; last seen: {last!r}")


def epoch(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def create_endpoint(api: httpx.Client, receiver: Receiver, path: str, **fields: Any) -> dict:
    response = api.post("/v1/endpoints", json={"url": receiver.url(path), **fields})
    assert response.status_code == 201, response.text
    endpoint = response.json()
    receiver.set_secret(path, endpoint["secret"])
    return endpoint


def publish(api: httpx.Client, event_type: str, data: dict) -> dict:
    response = api.post("/v1/events", json={"type": event_type, "data": data})
    assert response.status_code == 202, response.text
    return response.json()


def health(api: httpx.Client, endpoint_id: str) -> dict:
    response = api.get(f"/v1/endpoints/{endpoint_id}/health")
    assert response.status_code == 200, response.text
    return response.json()


def endpoint_of(api: httpx.Client, endpoint_id: str) -> dict:
    response = api.get(f"/v1/endpoints/{endpoint_id}")
    assert response.status_code == 200, response.text
    return response.json()


def deliveries_of(api: httpx.Client, endpoint_id: str) -> list[dict]:
    response = api.get("/v1/deliveries", params={"endpoint_id": endpoint_id, "limit": 500})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def dlq_of(api: httpx.Client, endpoint_id: str) -> list[dict]:
    response = api.get("/v1/dlq", params={"endpoint_id": endpoint_id, "limit": 500})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def timeline(receiver: Receiver, path: str, since: float | None = None) -> str:
    """The requests on ``path`` as readable lines, for failure messages."""
    requests = receiver.requests(path)
    start = since if since is not None else (requests[0].arrived_at if requests else 0.0)
    return "\n".join(
        f"  +{r.arrived_at - start:7.3f}s {r.headers.get('webhook-id')} attempt={r.headers.get('hookrelay-attempt')}"
        f" -> {r.status}"
        for r in requests
    )


def open_breaker(api: httpx.Client, receiver: Receiver, path: str, **fields: Any) -> tuple[dict, dict, float]:
    """An endpoint whose receiver is down and one event: three failed attempts open the breaker.
    Returns the endpoint, the event and the arrival time of the third attempt."""
    receiver.set_down(path)
    endpoint = create_endpoint(api, receiver, path, **fields)
    event = publish(api, "order.created", {"n": 0})
    requests = receiver.wait_for(path, THRESHOLD, timeout=15)
    assert [r.headers["hookrelay-attempt"] for r in requests] == ["1", "2", "3"], timeline(receiver, path)
    assert {r.headers["webhook-id"] for r in requests} == {event["id"]}
    assert all(r.verified for r in requests), [r.verify_error for r in requests]
    third = requests[-1].arrived_at

    def opened() -> dict | None:
        state = health(api, endpoint["id"])
        return state if state["breaker"] == "open" else None

    state = eventually(opened, 5, "the breaker to open after 3 failed attempts")
    assert state["consecutive_failures"] == THRESHOLD, state
    assert state["last_error"] == "HTTP 503", state
    assert state["opened_at"] is not None and state["retry_at"] is not None
    assert epoch(state["retry_at"]) - epoch(state["opened_at"]) == pytest.approx(COOLDOWN, abs=0.01), state
    return endpoint, event, third


# -- tests ---------------------------------------------------------------------------------


def test_breaker_opens_holds_during_cooldown_probes_once_and_releases_on_recovery(api, receiver):
    path = "/flaky"
    endpoint, first, third_at = open_breaker(api, receiver, path)
    state = health(api, endpoint["id"])
    retry_at = epoch(state["retry_at"])

    # Events keep arriving during the cooldown: each is accepted and held, none is sent.
    held_events = []
    for n in range(1, 5):
        held_events.append(publish(api, "order.created", {"n": n}))
        time.sleep(0.2)
    published_by = time.time()
    assert published_by < retry_at, "the events were meant to be published during the cooldown"

    # After the cooldown: exactly one probe (the oldest delivery, still failing: the receiver is down).
    probe = receiver.wait_for(path, THRESHOLD + 1, timeout=COOLDOWN + 5)[THRESHOLD]
    lines = timeline(receiver, path)
    assert probe.arrived_at >= retry_at - 0.05, (
        f"a request came during the cooldown (retry_at {retry_at - third_at:.3f}s after the third):\n{lines}"
    )
    assert probe.arrived_at <= retry_at + 2.5, f"the probe came late:\n{lines}"
    assert probe.headers["webhook-id"] == first["id"], lines
    assert probe.headers["hookrelay-attempt"] == "4", lines
    assert probe.status == 503

    def reopened() -> dict | None:
        state = health(api, endpoint["id"])
        return state if state["breaker"] == "open" and state["consecutive_failures"] == THRESHOLD + 1 else None

    state = eventually(reopened, 5, "the failed probe to reopen the breaker")
    next_probe_at = epoch(state["retry_at"])
    assert next_probe_at - probe.arrived_at == pytest.approx(2 * COOLDOWN, abs=1.0), state  # doubled
    assert state["opened_at"] == health(api, endpoint["id"])["opened_at"]
    # While the probe failed and the next one is not due: nothing else reaches the receiver.
    time.sleep(max(0.0, min(next_probe_at - time.time() - 0.7, 3.0)))
    assert receiver.count(path) == THRESHOLD + 1, f"more than one probe:\n{timeline(receiver, path)}"
    assert time.time() < next_probe_at, "the test was too slow to bring the receiver back before the next probe"

    # The receiver comes back: the next probe succeeds, the breaker closes, every held delivery goes.
    receiver.set_up(path)
    everything = [first, *held_events]
    requests = receiver.wait_for(path, THRESHOLD + 1 + len(everything), timeout=2 * COOLDOWN + 10)
    lines = timeline(receiver, path)
    second_probe = requests[THRESHOLD + 1]
    assert second_probe.headers["webhook-id"] == first["id"] and second_probe.status == 200, lines
    assert second_probe.arrived_at >= next_probe_at - 0.05, lines
    released = requests[THRESHOLD + 2 :]
    assert len(released) == len(held_events), lines
    assert all(r.arrived_at >= second_probe.arrived_at for r in released), lines
    assert {r.headers["webhook-id"] for r in released} == {e["id"] for e in held_events}, lines
    # They were held, not attempted: each arrives as its first attempt, verified, answered 200.
    assert [r.headers["hookrelay-attempt"] for r in released] == ["1"] * len(held_events), lines
    assert all(r.verified and r.status == 200 for r in released), lines

    def all_succeeded() -> list[dict] | None:
        deliveries = deliveries_of(api, endpoint["id"])
        return deliveries if {d["status"] for d in deliveries} == {"succeeded"} else None

    deliveries = eventually(all_succeeded, 10, "every delivery to be succeeded")
    assert sorted(d["event_id"] for d in deliveries) == sorted(e["id"] for e in everything)
    attempts = {d["event_id"]: d["attempts"] for d in deliveries}
    assert attempts == {first["id"]: 5, **{e["id"]: 1 for e in held_events}}, attempts
    assert dlq_of(api, endpoint["id"]) == []
    state = health(api, endpoint["id"])
    assert state["breaker"] == "closed" and state["consecutive_failures"] == 0, state
    assert state["opened_at"] is None and state["retry_at"] is None, state
    assert endpoint_of(api, endpoint["id"])["status"] == "enabled"
    time.sleep(1.5)
    assert receiver.count(path) == len(requests), f"a delivery arrived twice:\n{timeline(receiver, path)}"


def test_endpoint_that_stays_down_is_disabled_dead_lettered_and_announced(api, receiver):
    watch_path, down_path = "/watcher", "/down-for-good"
    watcher = create_endpoint(api, receiver, watch_path, event_types=["endpoint.*"])
    endpoint, first, _ = open_breaker(api, receiver, down_path, event_types=["order.*"])
    opened_at = epoch(health(api, endpoint["id"])["opened_at"])
    later = [publish(api, "order.created", {"n": n}) for n in range(1, 4)]
    for event in [first, *later]:
        assert [d["endpoint_id"] for d in event["deliveries"]] == [endpoint["id"]]  # not the watcher

    # Disabled (failing) once the breaker has been open for DISABLE_AFTER, not before.
    last_seen_enabled = time.time()

    def disabled() -> dict | None:
        nonlocal last_seen_enabled
        seen_at, current = time.time(), endpoint_of(api, endpoint["id"])
        if current["status"] == "enabled":
            last_seen_enabled = seen_at
            return None
        return current | {"_seen_at": seen_at}

    current = eventually(disabled, opened_at + DISABLE_AFTER + 6 - time.time(), "the endpoint to be disabled")
    lines = timeline(receiver, down_path)
    assert current["status"] == "disabled" and current["disabled_reason"] == "failing", current
    assert current["_seen_at"] - opened_at >= DISABLE_AFTER - 0.05, (current, opened_at)
    assert last_seen_enabled - opened_at <= DISABLE_AFTER + 3.5, "disabled too late"
    # Only probes reached the receiver after the breaker opened, each a cooldown or more apart.
    requests = receiver.requests(down_path)
    after_open = [r.arrived_at for r in requests[THRESHOLD:]]
    assert 1 <= len(after_open) <= 3, lines
    assert all(later - earlier >= COOLDOWN - 0.1 for earlier, later in zip([opened_at, *after_open], after_open)), lines
    assert {r.headers["webhook-id"] for r in requests} == {first["id"]}, lines
    assert all(r.status == 503 for r in requests), lines

    # Every undelivered delivery of the endpoint is in the DLQ as endpoint_disabled.
    dead = dlq_of(api, endpoint["id"])
    assert sorted(d["event_id"] for d in dead) == sorted(e["id"] for e in [first, *later]), dead
    assert {(d["status"], d["dead_reason"]) for d in dead} == {("dead", "endpoint_disabled")}, dead
    filtered = api.get("/v1/dlq", params={"endpoint_id": endpoint["id"], "reason": "endpoint_disabled"})
    assert filtered.status_code == 200 and len(filtered.json()["data"]) == len(dead), filtered.text
    attempts = {d["event_id"]: d["attempts"] for d in dead}
    # Each probe spent one attempt; a probe still in flight when the endpoint was disabled has
    # its outcome discarded (the delivery was already dead), so it may not be counted.
    assert attempts[first["id"]] in (THRESHOLD + len(after_open), THRESHOLD + len(after_open) - 1), (attempts, lines)
    assert all(attempts[e["id"]] == 0 for e in later), attempts  # held the whole time

    # The application's other endpoint, subscribed to endpoint.*, is told.
    [announcement] = receiver.wait_for(watch_path, 1, timeout=10)
    assert announcement.verified, announcement.verify_error
    assert announcement.status == 200
    body = announcement.json()
    assert body["type"] == "endpoint.disabled" and announcement.headers["hookrelay-event-type"] == "endpoint.disabled"
    assert body["data"]["endpoint"]["id"] == endpoint["id"], body
    assert body["data"]["endpoint"]["status"] == "disabled", body
    assert body["data"]["endpoint"]["disabled_reason"] == "failing", body
    assert "secret" not in body["data"]["endpoint"], "the announcement must not carry the signing secret"
    assert body["data"]["reason"] == "failing", body
    assert body["data"]["last_error"] and "503" in body["data"]["last_error"], body
    events = api.get("/v1/events/" + body["id"])
    assert events.status_code == 200 and [d["endpoint_id"] for d in events.json()["deliveries"]] == [watcher["id"]]
    time.sleep(1.5)
    assert receiver.count(watch_path) == 1, "endpoint.disabled was announced more than once"

    # Enabling it again resets its breaker; it then delivers normally.
    response = api.post(f"/v1/endpoints/{endpoint['id']}/enable")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "enabled" and response.json()["disabled_reason"] is None
    state = health(api, endpoint["id"])
    assert state["breaker"] == "closed" and state["consecutive_failures"] == 0, state
    assert state["opened_at"] is None and state["retry_at"] is None, state
    receiver.set_up(down_path)
    before = receiver.count(down_path)
    fresh = publish(api, "order.created", {"n": "after enable"})
    arrived = receiver.wait_for(down_path, before + 1, timeout=10)[before]
    assert arrived.headers["webhook-id"] == fresh["id"] and arrived.status == 200


def test_enabling_a_disabled_endpoint_resets_its_breaker(api, receiver):
    path = "/reset-on-enable"
    endpoint, _, _ = open_breaker(api, receiver, path)
    response = api.post(f"/v1/endpoints/{endpoint['id']}/disable")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "disabled" and response.json()["disabled_reason"] == "manual"
    assert health(api, endpoint["id"])["breaker"] == "open"  # disabling leaves the breaker alone

    response = api.post(f"/v1/endpoints/{endpoint['id']}/enable")
    assert response.status_code == 200, response.text
    state = health(api, endpoint["id"])
    assert state["breaker"] == "closed", state
    assert state["consecutive_failures"] == 0, state
    assert state["opened_at"] is None and state["retry_at"] is None, state

    # A new event is sent at once (not held until the old probe time) and delivered.
    receiver.set_up(path)
    before = receiver.count(path)
    sent_at = time.time()
    fresh = publish(api, "order.created", {"n": "fresh"})
    requests = receiver.wait_for(path, before + 1, timeout=10)
    arrived = next(r for r in requests[before:] if r.headers["webhook-id"] == fresh["id"])
    assert arrived.status == 200 and arrived.headers["hookrelay-attempt"] == "1"
    assert arrived.arrived_at - sent_at < 1.5, timeline(receiver, path, since=sent_at)


def test_rate_limit_is_shared_by_two_worker_processes(api, stack, receiver):
    path = "/rate-limited"
    rate, total = 5, 100
    assert {"worker", "worker2"} <= set(stack.processes), stack.processes
    endpoint = create_endpoint(api, receiver, path, rate_limit=rate)
    assert endpoint["rate_limit"] == rate

    def post(n: int) -> httpx.Response:
        with httpx.Client(base_url=stack.base_url, headers={"Authorization": api.headers["authorization"]},
                          timeout=30) as client:
            return client.post("/v1/events", json={"type": "order.created", "data": {"n": n}})

    started = time.time()
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(post, range(total)))
    refused = [r for r in answers if r.status_code != 202]
    assert not refused, f"{len(refused)} refused, e.g. {refused[0].status_code}: {refused[0].text}"
    posted_in = time.time() - started
    event_ids = {r.json()["id"] for r in answers}

    def progress() -> bool:
        return receiver.count(path) >= total

    try:
        eventually(progress, 90, f"{total} webhooks at {rate}/s", interval=0.25)
    finally:
        requests = receiver.requests(path)
        times = sorted(r.arrived_at for r in requests)
        per_second: dict[int, int] = {}
        for t in times:
            per_second[int(t - started)] = per_second.get(int(t - started), 0) + 1
        print(f"posted {total} events in {posted_in:.2f}s; {len(requests)} arrived; per second: {per_second}")

    # All arrived, each once, verified and accepted: excess deliveries waited, none failed.
    assert len(requests) == total, timeline(receiver, path)
    assert {r.headers["webhook-id"] for r in requests} == event_ids
    assert all(r.verified and r.status == 200 for r in requests)
    assert {r.headers["hookrelay-attempt"] for r in requests} == {"1"}  # waiting spent no attempt
    # At most rate (+1 on a window's edge) in ANY one-second window, across both workers.
    worst, worst_start = 0, 0.0
    for i, start in enumerate(times):
        inside = sum(1 for t in times[i:] if t < start + 1.0)
        if inside > worst:
            worst, worst_start = inside, start
    if worst > rate + 1:
        # Where the bunching happened: when hookrelay started each send (its attempt's
        # started_at) against when the receiver saw it. Sends that start closer together than
        # 1/rate mean grants (1/rate apart in Redis) were held back before being sent.
        lines = []
        for r in sorted(requests, key=lambda r: r.arrived_at):
            if worst_start - 0.5 <= r.arrived_at < worst_start + 1.5:
                [attempt] = api.get(f"/v1/deliveries/{r.headers['hookrelay-delivery-id']}/attempts").json()["data"]
                sent = epoch(attempt["started_at"])
                lines.append(
                    f"  arrived +{r.arrived_at - started:7.3f}s  send started +{sent - started:7.3f}s"
                    f"  ({(r.arrived_at - sent) * 1000:6.1f} ms) {r.headers['hookrelay-delivery-id']}"
                )
        raise AssertionError(
            f"{worst} requests within one second from +{worst_start - started:.3f}s (rate {rate}):\n"
            + "\n".join(lines)
        )
    # The burst took as long as the rate says (100 at 5/s: about 20s), no shortcut.
    assert times[-1] - times[0] >= (total - 1) / (rate + 1) - 0.5, (times[0], times[-1])
    deliveries = deliveries_of(api, endpoint["id"])
    assert len(deliveries) == total and {d["status"] for d in deliveries} == {"succeeded"}
    assert {d["attempts"] for d in deliveries} == {1}
