"""``/v1/jobs``: async request (202 + status URL), sync feedback (poll, long poll, SSE)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from hookrelay.api.jobs.schemas import JobAccepted, JobIn, JobList, JobOut
from hookrelay.api.params import refuse_unstorable_text
from hookrelay.domain.idempotency import fingerprint, is_valid_key
from hookrelay.domain.jobs import JobStatus, retry_after_hint
from hookrelay.errors import BadRequest, PayloadTooLarge, Unprocessable
from hookrelay.jobs.registry import get_job_type, registered_names
from hookrelay.services import jobs as jobs_service
from hookrelay.services.cursors import DEFAULT_LIMIT, MAX_LIMIT

MAX_WAIT_SECONDS = 60

StatusFilter = Literal["pending", "processing", "retrying", "completed", "failed", "cancelled"]


def _job_response(job: dict, status_code: int = 200) -> Response:
    hint = retry_after_hint(JobStatus(job["status"]))
    headers = {"Retry-After": str(hint)} if hint is not None else None
    return Response(job, status_code=status_code, headers=headers)


class JobsController(Controller):
    path = "/v1/jobs"
    tags = ["jobs"]

    @post("/", status_code=202, responses=None)
    async def submit(
        self,
        request: Request,
        data: JSONBody[JobIn],
        app_id: NamedDependency[str],
        idempotency_key: Annotated[str | None, HeaderParameter(name="Idempotency-Key")] = None,
    ) -> Response[JobAccepted]:
        """Submit a job; answers 202 with its id and status URL at once."""
        services = request.app.state.services
        job_input = msgspec.to_builtins(data.input)
        encoded_input = msgspec.json.encode(job_input)
        if len(encoded_input) > services.settings.max_payload_bytes:
            raise PayloadTooLarge("the job input is larger than HOOKRELAY_MAX_PAYLOAD_BYTES")
        refuse_unstorable_text("input", encoded_input)
        if data.metadata:
            refuse_unstorable_text("metadata", msgspec.json.encode(data.metadata))
        job_type = get_job_type(data.type)
        if job_type is None:
            names = registered_names()
            raise Unprocessable(
                f"unknown job type {data.type!r}; registered types: {', '.join(names)}",
                code="unknown_job_type",
                errors=[{"field": "type", "message": f"must be one of: {', '.join(names)}"}],
                extra={"registered_types": names},
            )
        idempotency = None
        if idempotency_key is not None:
            if not is_valid_key(idempotency_key):
                raise BadRequest("Idempotency-Key must be 1 to 255 printable characters", code="invalid_idempotency_key")
            body = {"type": data.type, "input": job_input, "metadata": msgspec.to_builtins(data.metadata)}
            idempotency = jobs_service.IdempotencyKey(idempotency_key, fingerprint(jobs_service.SUBMIT_SCOPE, body))
        submission = await jobs_service.submit_job(
            services,
            app_id=app_id,
            job_type=job_type,
            job_input=job_input,
            metadata=msgspec.to_builtins(data.metadata),
            idempotency=idempotency,
        )
        headers = {"Location": submission.body["status_url"]}
        if submission.replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(submission.body, status_code=submission.status, headers=headers)

    @get("/")
    async def list_jobs(
        self,
        request: Request,
        app_id: NamedDependency[str],
        status: FromQuery[StatusFilter | None] = None,
        job_type: Annotated[str | None, QueryParameter(name="type")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: FromQuery[str | None] = None,
    ) -> JobList:
        """The application's jobs, newest first."""
        result = await jobs_service.list_jobs(
            request.app.state.services,
            request.app.state.cursors,
            app_id=app_id,
            limit=limit,
            cursor=cursor,
            status=status,
            job_type=job_type,
        )
        return msgspec.convert(result, JobList)

    @get("/{job_id:str}")
    async def get_job(
        self,
        request: Request,
        app_id: NamedDependency[str],
        job_id: FromPath[str],
        wait: Annotated[float | None, QueryParameter(ge=0, le=MAX_WAIT_SECONDS, description="long poll, seconds")] = None,
    ) -> Response[JobOut]:
        """The job; with ``?wait=N`` it answers as soon as the job is terminal, or after N seconds."""
        services = request.app.state.services
        if wait:
            job = await jobs_service.wait_for_job(services, app_id=app_id, job_id=job_id, wait_seconds=wait)
        else:
            job = await jobs_service.read_job(services, app_id=app_id, job_id=job_id)
        return _job_response(job)

    @get("/{job_id:str}/events")
    async def stream(self, request: Request, app_id: NamedDependency[str], job_id: FromPath[str]) -> ServerSentEvent:
        """Server-Sent Events: ``event: status`` with the job on every change; ends when terminal."""
        changes = await jobs_service.stream_job(request.app.state.services, app_id=app_id, job_id=job_id)

        async def messages():
            async for job in changes:
                if job is None:
                    yield ServerSentEventMessage(comment="keep-alive")
                else:
                    yield ServerSentEventMessage(event="status", data=msgspec.json.encode(job).decode())

        return ServerSentEvent(messages(), headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @post("/{job_id:str}/cancel", status_code=200)
    async def cancel(self, request: Request, app_id: NamedDependency[str], job_id: FromPath[str]) -> Response[JobOut]:
        """Cancel: at once when pending or retrying (200); when processing, at the handler's
        next progress report, heartbeat or return (202); 409 when already finished."""
        status_code, job = await jobs_service.cancel_job(request.app.state.services, app_id=app_id, job_id=job_id)
        return _job_response(job, status_code)
