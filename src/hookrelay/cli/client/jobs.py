"""``hookrelay jobs submit|get|wait``: async jobs with sync-style feedback."""

from __future__ import annotations

import math
import time

import click

from hookrelay.cli.client import output
from hookrelay.cli.client.common import ClientGroup, Session, client_options, fail, parse_json_object
from hookrelay.cli.client.http import ApiClient

TERMINAL = ("completed", "failed", "cancelled")
MAX_WAIT = 60  # the API's largest ?wait=
EXIT_HELP = "Exit status: 0 if the job completed, 2 if it failed or was cancelled, 1 on any error (or timeout)."

JOB_FIELDS = (
    "id", "type", "status", "progress", "step", "attempts", "result", "error", "input", "metadata",
    "created_at", "started_at", "finished_at", "updated_at",
)


def wait_for(api: ApiClient, job_id: str, timeout: float) -> dict:
    """Long-poll ``GET /v1/jobs/ID?wait=N`` until the job is terminal or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        wait = max(0, min(MAX_WAIT, math.ceil(remaining)))
        job = api.get(f"/v1/jobs/{job_id}", params={"wait": wait} if wait else None, timeout=wait + 30)
        if job.get("status") in TERMINAL:
            return job
        if time.monotonic() >= deadline:
            progress = f", progress {job['progress']}%" if job.get("progress") is not None else ""
            fail(f"job {job_id} is still {job.get('status')}{progress} after {timeout:g}s")
        if not wait:  # the server did not hold the request: do not spin
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))


def show(session: Session, job: dict) -> None:
    if session.as_json:
        output.print_json(job)
    else:
        output.details(job, [f for f in JOB_FIELDS if f in job], title=f"job {job.get('id')}")


def finish(job: dict) -> None:
    if job.get("status") in ("failed", "cancelled"):
        raise click.exceptions.Exit(2)


@click.group(cls=ClientGroup)
def jobs() -> None:
    """Async jobs: submit, look at, and wait for them."""


@jobs.command("submit", epilog="With --wait: " + EXIT_HELP)
@client_options
@click.argument("job_type", metavar="TYPE")
@click.option("--input", "input_json", default="{}", show_default=True, metavar="JSON",
              help="The job's input: a JSON object, or @file.json (@- for stdin).")
@click.option("--metadata", metavar="JSON", help="A JSON object kept with the job.")
@click.option("--idempotency-key", metavar="KEY",
              help="Send as Idempotency-Key: a retry with the same key and body creates nothing new.")
@click.option("--wait", "wait_seconds", type=click.FloatRange(min=0), metavar="SECONDS",
              help="Then wait up to SECONDS for the job to finish and print its final state.")
def submit(session: Session, job_type: str, input_json: str, metadata: str | None, idempotency_key: str | None,
           wait_seconds: float | None) -> None:
    """Submit a job (POST /v1/jobs) and print the 202 answer (id, status_url)."""
    body = {"type": job_type, "input": parse_json_object("--input", input_json)}
    if metadata is not None:
        body["metadata"] = parse_json_object("--metadata", metadata)
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    accepted = session.api.post("/v1/jobs", json=body, headers=headers)
    if wait_seconds is None:
        if session.as_json:
            output.print_json(accepted)
        else:
            output.line(f"job {accepted.get('id')} ({accepted.get('type')}) {accepted.get('status')}")
            output.line(f"follow it: hookrelay jobs wait {accepted.get('id')}")
        return
    job = wait_for(session.api, accepted["id"], wait_seconds)
    show(session, job)
    finish(job)


@jobs.command("get")
@client_options
@click.argument("job_id")
def get(session: Session, job_id: str) -> None:
    """Show a job's current state (GET /v1/jobs/ID)."""
    show(session, session.api.get(f"/v1/jobs/{job_id}"))


@jobs.command("wait", epilog=EXIT_HELP)
@client_options
@click.argument("job_id")
@click.option("--timeout", type=click.FloatRange(min=0), default=60, show_default=True, metavar="SECONDS",
              help="Give up (exit status 1) if the job is not finished by then.")
def wait(session: Session, job_id: str, timeout: float) -> None:
    """Wait until a job is completed, failed or cancelled, then print it.

    Long-polls GET /v1/jobs/ID?wait=N (N at most 60) as often as needed.
    """
    job = wait_for(session.api, job_id, timeout)
    show(session, job)
    finish(job)
