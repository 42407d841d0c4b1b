"""The client CLI (SPEC §7) as a user runs it: ``python -m hookrelay …`` subprocesses against a
real api + worker + scheduler, with HOOKRELAY_API_URL / HOOKRELAY_API_KEY in the environment.

Each test gets a fresh application (conftest's ``api`` fixture) and its own receiver path(s).
``--json`` output is parsed and compared with what the API itself answers; failures must be one
``error: …`` line on stderr with exit status 1 (2 for ``jobs wait`` on a failed job), no traceback,
and never the API key.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import DELIVERY_ENV, Stack, free_port, running_stack
from tests.e2e.receiver import Behaviour, Receiver, always

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(e2e_database_url: str, tmp_path_factory) -> Stack:
    """Overrides the jobs stack: local receivers allowed, a short retry schedule."""
    with running_stack(
        e2e_database_url, tmp_path_factory.mktemp("cli-stack-logs"),
        HOOKRELAY_RETRY_SCHEDULE="0s,1s,1s", **DELIVERY_ENV,
    ) as running:
        yield running


class Result:
    def __init__(self, completed: subprocess.CompletedProcess) -> None:
        self.code = completed.returncode
        self.out = completed.stdout
        self.err = completed.stderr

    def json(self) -> Any:
        assert self.code == 0, f"exit {self.code}: {self.err}"
        return json.loads(self.out)

    def assert_one_error_line(self, code: int = 1) -> str:
        assert self.code == code, f"exit {self.code}, stdout {self.out!r}, stderr {self.err!r}"
        assert "Traceback" not in self.err + self.out
        lines = self.err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), self.err
        return lines[0]


def run(url: str, key: str | None, *arguments: str, timeout: float = 90) -> Result:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKRELAY_")}
    env["HOOKRELAY_API_URL"] = url
    if key is not None:
        env["HOOKRELAY_API_KEY"] = key
    completed = subprocess.run(
        [sys.executable, "-m", "hookrelay", *arguments], env=env, capture_output=True, text=True, timeout=timeout,
    )
    return Result(completed)


@pytest.fixture
def key(api: httpx.Client) -> str:
    return api.headers["Authorization"].removeprefix("Bearer ")


@pytest.fixture
def cli(stack: Stack, key: str) -> Callable[..., Result]:
    """Run ``hookrelay …`` as the fresh application of this test."""
    return lambda *arguments, **kwargs: run(stack.base_url, key, *arguments, **kwargs)


def eventually(probe: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout}s; last seen: {last!r}")


def delivery_status(api: httpx.Client, delivery_id: str, status: str, timeout: float = 20) -> dict:
    def probe() -> dict | None:
        delivery = api.get(f"/v1/deliveries/{delivery_id}").json()
        return delivery if delivery["status"] == status else None

    return eventually(probe, timeout, f"delivery {delivery_id} to become {status}")


def create_endpoint(cli, receiver: Receiver, path: str, *extra: str) -> dict:
    endpoint = cli("endpoints", "create", receiver.url(path), "--json", *extra).json()
    receiver.set_secret(path, endpoint["secret"])
    return endpoint


def dead_delivery(cli, api: httpx.Client, receiver: Receiver, path: str) -> tuple[dict, dict]:
    """An endpoint answering 400 and one event to it: the delivery is dead at once (rejected)."""
    receiver.set_behaviour(path, always(400))
    endpoint = create_endpoint(cli, receiver, path)
    event = cli("trigger", "order.created", "--data", '{"order": 1}', "--json").json()
    [delivery] = event["deliveries"]
    dead = delivery_status(api, delivery["id"], "dead")
    assert dead["dead_reason"] == "rejected" and dead["last_response_status"] == 400
    return endpoint, dead


# -- jobs ----------------------------------------------------------------------------------------


def test_jobs_submit_wait_and_get(cli, api):
    accepted = cli("jobs", "submit", "demo.echo", "--input", '{"a": 1}', "--json").json()
    assert accepted["id"].startswith("job_") and accepted["status"] == "pending"
    assert accepted["status_url"] == f"/v1/jobs/{accepted['id']}"

    waited = cli("jobs", "wait", accepted["id"], "--json")
    job = waited.json()
    assert waited.code == 0 and job["status"] == "completed" and job["result"] == {"a": 1}

    got = cli("jobs", "get", accepted["id"], "--json").json()
    assert got == api.get(f"/v1/jobs/{accepted['id']}").json()

    human = cli("jobs", "get", accepted["id"])
    assert human.code == 0 and accepted["id"] in human.out and "completed" in human.out


def test_jobs_submit_with_wait_and_idempotency_key(cli):
    arguments = ("jobs", "submit", "demo.echo", "--input", '{"b": 2}', "--idempotency-key", "cli-idem-1")
    first = cli(*arguments, "--wait", "30", "--json").json()
    assert first["status"] == "completed" and first["result"] == {"b": 2}
    again = cli(*arguments, "--json").json()
    assert again["id"] == first["id"]


def test_failed_job_makes_wait_exit_2(cli):
    job_input = json.dumps({"code": "bad_input", "message": "nope", "retryable": False})
    job_id = cli("jobs", "submit", "demo.fail", "--input", job_input, "--json").json()["id"]
    waited = cli("jobs", "wait", job_id, "--timeout", "30", "--json")
    assert waited.code == 2, waited.err
    job = json.loads(waited.out)
    assert job["status"] == "failed" and job["error"]["code"] == "bad_input"

    submitted = cli("jobs", "submit", "demo.fail", "--input", job_input, "--wait", "30")
    assert submitted.code == 2 and "failed" in submitted.out


def test_jobs_wait_timeout_is_one_error_line(cli):
    job_id = cli("jobs", "submit", "demo.sleep", "--input", '{"seconds": 5, "steps": 1}', "--json").json()["id"]
    line = cli("jobs", "wait", job_id, "--timeout", "1").assert_one_error_line()
    assert job_id in line and "after 1s" in line


# -- endpoints, trigger, deliveries ----------------------------------------------------------------


def test_endpoint_create_list_rotate_disable_enable(cli, api, receiver):
    endpoint = create_endpoint(
        cli, receiver, "/cli-endpoint", "--events", "job.*,invoice.paid", "--description", "billing",
        "--rate-limit", "5", "--header", "X-Tenant: acme",
    )
    assert endpoint["id"].startswith("ep_") and endpoint["secret"].startswith("whsec_")
    assert endpoint["event_types"] == ["job.*", "invoice.paid"] and endpoint["description"] == "billing"
    assert endpoint["rate_limit"] == 5 and endpoint["headers"] == {"X-Tenant": "acme"}

    listed = cli("endpoints", "list", "--json").json()
    assert listed == api.get("/v1/endpoints").json()
    assert [e["id"] for e in listed["data"]] == [endpoint["id"]]
    human = cli("endpoints", "list")
    assert human.code == 0 and endpoint["id"] in human.out and receiver.url("/cli-endpoint") in human.out

    rotated = cli("endpoints", "rotate-secret", endpoint["id"], "--json").json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != endpoint["secret"]

    disabled = cli("endpoints", "disable", endpoint["id"], "--json").json()
    assert disabled["status"] == "disabled" and disabled["disabled_reason"] == "manual"
    enabled = cli("endpoints", "enable", endpoint["id"], "--json").json()
    assert enabled["status"] == "enabled" and enabled["disabled_reason"] is None


def test_trigger_then_deliveries_list_and_show(cli, api, receiver):
    path = "/cli-trigger"
    endpoint = create_endpoint(cli, receiver, path, "--events", "invoice.*")
    event = cli("trigger", "invoice.paid", "--data", '{"invoice": "in_1", "amount": 1200}', "--json").json()
    assert event["id"].startswith("evt_") and event["type"] == "invoice.paid"
    assert event["data"] == {"invoice": "in_1", "amount": 1200}
    [delivery] = event["deliveries"]
    assert delivery["endpoint_id"] == endpoint["id"]

    [request] = receiver.wait_for(path, 1, timeout=20)
    assert request.verified and request.json()["id"] == event["id"]
    delivery_status(api, delivery["id"], "succeeded")

    listed = cli("deliveries", "list", "--event-id", event["id"], "--json").json()
    assert listed == api.get("/v1/deliveries", params={"event_id": event["id"]}).json()
    assert [d["id"] for d in listed["data"]] == [delivery["id"]]
    assert cli("deliveries", "list", "--status", "dead", "--json").json()["data"] == []

    shown = cli("deliveries", "show", delivery["id"], "--json").json()
    assert shown["id"] == delivery["id"] and shown["status"] == "succeeded"
    assert [a["outcome"] for a in shown["attempts"]] == ["success"]
    assert shown["attempts"][0]["response"]["status"] == 200
    human = cli("deliveries", "show", delivery["id"])
    assert human.code == 0 and delivery["id"] in human.out and "attempts" in human.out and "success" in human.out

    sample = cli("trigger", "invoice.created", "--json").json()
    assert sample["data"]["sample"] is True and len(sample["deliveries"]) == 1
    plain = cli("trigger", "invoice.voided")
    assert plain.code == 0 and "invoice.voided" in plain.out and endpoint["id"] in plain.out


def test_deliveries_list_pages_and_all(cli, receiver):
    endpoint = create_endpoint(cli, receiver, "/cli-pages")
    for number in range(3):
        cli("trigger", "page.test", "--data", json.dumps({"n": number}), "--json").json()
    base = ("deliveries", "list", "--endpoint-id", endpoint["id"], "--json")
    one = cli(*base, "--limit", "1").json()
    assert len(one["data"]) == 1 and one["next_cursor"]
    two = cli(*base, "--all", "--limit", "2").json()
    assert len(two["data"]) == 2 and two["data"][0]["id"] == one["data"][0]["id"]
    everything = cli(*base, "--all").json()
    assert len({d["id"] for d in everything["data"]}) == 3 and everything["next_cursor"] is None
    rest = cli(*base, "--cursor", one["next_cursor"]).json()
    assert [d["id"] for d in rest["data"]] == [d["id"] for d in everything["data"][1:]]


# -- errors ------------------------------------------------------------------------------------------


def test_not_found_is_one_line_and_exit_1(cli, key):
    result = cli("deliveries", "show", "dlv_nope")
    assert result.assert_one_error_line() == "error: 404 delivery_not_found: no delivery dlv_nope"
    assert key not in result.out + result.err
    assert cli("jobs", "get", "job_nope", "--json").assert_one_error_line().startswith("error: 404 job_not_found")


def test_validation_error_is_one_line(cli):
    line = cli("jobs", "submit", "no.such.type", "--input", "{}").assert_one_error_line()
    assert line.startswith("error: 422 ")


def test_unreachable_api_missing_key_and_bad_key(stack):
    url = f"http://127.0.0.1:{free_port()}"
    line = run(url, "hr_whatever", "deliveries", "list").assert_one_error_line()
    assert line == f"error: cannot reach {url}: connection refused"

    line = run(stack.base_url, None, "endpoints", "list").assert_one_error_line()
    assert line == "error: no API key (set HOOKRELAY_API_KEY or pass --api-key)"

    result = run(stack.base_url, "hr_not_a_real_key_123", "dlq", "list")
    assert result.assert_one_error_line().startswith("error: 401 unauthorized")
    assert "hr_not_a_real_key_123" not in result.out + result.err


def test_usage_errors_are_one_line_too(cli):
    assert "nothing to replay" in cli("dlq", "replay").assert_one_error_line()
    assert "--data" in cli("trigger", "x.y", "--data", "[1, 2]").assert_one_error_line()
    assert "EVENT_TYPE" in cli("trigger").assert_one_error_line()


# -- redelivery, DLQ, recover (server routes of the DLQ issue) ------------------------------------


def test_dead_delivery_redelivered_by_hand(cli, api, receiver):
    path = "/cli-redeliver"
    _, dead = dead_delivery(cli, api, receiver, path)
    listed = cli("dlq", "list", "--reason", "rejected", "--json").json()
    assert [d["id"] for d in listed["data"]] == [dead["id"]]
    assert listed == api.get("/v1/dlq", params={"reason": "rejected"}).json()

    receiver.set_behaviour(path, Behaviour(status=200))
    redelivered = cli("deliveries", "redeliver", dead["id"], "--json").json()
    assert redelivered["id"] == dead["id"] and redelivered["status"] == "succeeded"
    attempts = cli("deliveries", "show", dead["id"], "--json").json()["attempts"]
    assert [a["trigger"] for a in attempts][-1] == "manual" and attempts[-1]["outcome"] == "success"
    assert cli("dlq", "list", "--json").json()["data"] == []


def test_dlq_replay_by_id_and_by_filter_then_discard(cli, api, receiver):
    path = "/cli-replay"
    endpoint, first = dead_delivery(cli, api, receiver, path)
    second = cli("trigger", "order.created", "--data", '{"order": 2}', "--json").json()["deliveries"][0]
    third = cli("trigger", "order.created", "--data", '{"order": 3}', "--json").json()["deliveries"][0]
    delivery_status(api, second["id"], "dead")
    delivery_status(api, third["id"], "dead")

    receiver.set_behaviour(path, Behaviour(status=200))
    assert cli("dlq", "replay", first["id"], "--json").json() == {"requeued": 1}
    delivery_status(api, first["id"], "succeeded")

    discarded = cli("dlq", "discard", third["id"], "--json").json()
    assert discarded["id"] == third["id"] and discarded["status"] == "discarded"

    replayed = cli("dlq", "replay", "--endpoint-id", endpoint["id"], "--reason", "rejected")
    assert replayed.code == 0 and "requeued 1" in replayed.out, replayed.err
    delivery_status(api, second["id"], "succeeded")
    assert api.get(f"/v1/deliveries/{third['id']}").json()["status"] == "discarded"


def test_endpoint_recover_requeues_failed_deliveries(cli, api, receiver):
    path = "/cli-recover"
    endpoint, dead = dead_delivery(cli, api, receiver, path)
    receiver.set_behaviour(path, Behaviour(status=200))
    recovered = cli("endpoints", "recover", endpoint["id"], "--since", "1h", "--json").json()
    assert recovered["requeued"] >= 1
    delivery_status(api, dead["id"], "succeeded")
