"""Jobs end to end: real api, worker and scheduler processes on PostgreSQL and Redis."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import httpx
import pytest

from hookrelay.domain.timestamps import parse_timestamp

pytestmark = pytest.mark.e2e


def submit(api: httpx.Client, job_type: str, job_input: dict) -> str:
    response = api.post("/v1/jobs", json={"type": job_type, "input": job_input})
    assert response.status_code == 202, response.text
    return response.json()["id"]


def wait_until(api: httpx.Client, job_id: str, predicate, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = api.get(f"/v1/jobs/{job_id}").json()
        if predicate(job):
            return job
        time.sleep(0.02)
    raise AssertionError(f"job never reached the expected state; last: {job}")


def test_sleep_job_goes_pending_processing_completed_with_rising_progress(api):
    job_id = submit(api, "demo.sleep", {"seconds": 2, "steps": 4})
    statuses, progress_seen = [], []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response = api.get(f"/v1/jobs/{job_id}")
        job = response.json()
        statuses.append(job["status"])
        if job["status"] == "processing" and job["progress"] is not None:
            progress_seen.append(job["progress"])
            assert int(response.headers["retry-after"]) >= 1
        if job["status"] == "completed":
            assert "retry-after" not in response.headers
            break
        time.sleep(0.05)
    assert statuses[-1] == "completed"
    assert "processing" in statuses
    assert progress_seen == sorted(progress_seen) and len(set(progress_seen)) >= 2
    assert job["progress"] == 100
    assert job["result"] == {"slept_seconds": 2, "steps": 4}
    assert job["attempts"] == 1


def test_long_poll_returns_within_a_second_of_completion(api):
    job_id = submit(api, "demo.sleep", {"seconds": 1.5, "steps": 1})
    started = time.monotonic()
    response = api.get(f"/v1/jobs/{job_id}", params={"wait": 30})
    returned_at = datetime.now(UTC)
    job = response.json()
    assert job["status"] == "completed"
    assert time.monotonic() - started < 15
    lag = (returned_at - parse_timestamp(job["finished_at"])).total_seconds()
    assert 0 <= lag < 1.0, f"long poll answered {lag:.3f}s after completion"


def test_sse_stream_shows_each_progress_step_then_ends(api):
    job_id = submit(api, "demo.sleep", {"seconds": 2, "steps": 4})
    events = []
    with api.stream("GET", f"/v1/jobs/{job_id}/events", timeout=30) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        event_name = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                event_name = line[len("event: "):]
            elif line.startswith("data: "):
                assert event_name == "status"
                events.append(json.loads(line[len("data: "):]))
    # The loop ended because the server closed the stream after the terminal state.
    progress = [event["progress"] for event in events if event["status"] == "processing" and event["progress"]]
    # The last step's 100 may show as processing or only with the completed state.
    assert progress in ([25, 50, 75], [25, 50, 75, 100])
    assert events[-1]["status"] == "completed" and events[-1]["progress"] == 100


def test_retryable_failure_is_retried_max_attempts_then_failed(api):
    job_id = submit(
        api, "demo.fail",
        {"code": "upstream_down", "message": "the report service is down", "retryable": True, "step": "fetch"},
    )
    seen = set()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = api.get(f"/v1/jobs/{job_id}").json()
        seen.add(job["status"])
        if job["status"] == "failed":
            break
        time.sleep(0.02)
    assert job["status"] == "failed"
    assert job["attempts"] == 3
    assert "retrying" in seen
    assert job["error"] == {
        "code": "upstream_down", "message": "the report service is down", "retryable": True, "failed_step": "fetch",
    }


def test_non_retryable_failure_fails_at_once(api):
    job_id = submit(api, "demo.fail", {"code": "bad_input", "message": "nope", "retryable": False})
    job = api.get(f"/v1/jobs/{job_id}", params={"wait": 20}).json()
    assert job["status"] == "failed" and job["attempts"] == 1
    assert job["error"]["code"] == "bad_input" and job["error"]["retryable"] is False


def test_cancel_in_each_state(api):
    # Two long jobs occupy both worker threads, so a third stays pending.
    busy = [submit(api, "demo.sleep", {"seconds": 60, "steps": 60}) for _ in range(2)]
    for job_id in busy:
        wait_until(api, job_id, lambda job: job["status"] == "processing")
    pending = submit(api, "demo.echo", {"n": 1})
    response = api.post(f"/v1/jobs/{pending}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"

    # processing → cancelled by its worker, promptly.
    response = api.post(f"/v1/jobs/{busy[0]}/cancel")
    assert response.status_code == 202 and response.json()["cancel_requested"] is True
    cancelled = api.get(f"/v1/jobs/{busy[0]}", params={"wait": 10}).json()
    assert cancelled["status"] == "cancelled"
    api.post(f"/v1/jobs/{busy[1]}/cancel")
    assert api.get(f"/v1/jobs/{busy[1]}", params={"wait": 10}).json()["status"] == "cancelled"

    # retrying → cancelled at once.
    failing = submit(api, "demo.fail", {"code": "flaky", "message": "try again", "retryable": True})
    wait_until(api, failing, lambda job: job["status"] == "retrying")
    response = api.post(f"/v1/jobs/{failing}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"

    # terminal → 409, and the cancelled pending job never ran.
    assert api.post(f"/v1/jobs/{pending}/cancel").status_code == 409
    time.sleep(0.5)
    assert api.get(f"/v1/jobs/{pending}").json()["attempts"] == 0


def test_another_applications_key_gets_404(api, stack):
    job_id = submit(api, "demo.echo", {"secret": "mine"})
    with stack.client(stack.create_app("intruder")) as intruder:
        assert intruder.get(f"/v1/jobs/{job_id}").status_code == 404
        assert intruder.post(f"/v1/jobs/{job_id}/cancel").status_code == 404
        assert intruder.get(f"/v1/jobs/{job_id}/events").status_code == 404


def test_killed_worker_job_is_requeued_after_its_lease_and_completes(api, stack):
    job_id = submit(api, "demo.sleep", {"seconds": 3, "steps": 6})
    wait_until(api, job_id, lambda job: job["status"] == "processing" and (job["progress"] or 0) >= 16)
    stack.kill("worker")  # kill -9 of the whole worker process group, mid-job
    stack.start_worker(threads=2)
    job = api.get(f"/v1/jobs/{job_id}", params={"wait": 45}).json()
    assert job["status"] == "completed", job
    assert job["attempts"] == 2
