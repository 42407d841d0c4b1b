from __future__ import annotations

from typing import Annotated, Any

import msgspec

from hookrelay.domain.jobs import JobStatus

JobTypeName = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._-]+$")]


class JobIn(msgspec.Struct, forbid_unknown_fields=True):
    type: JobTypeName
    input: Any = msgspec.field(default_factory=dict)
    metadata: dict[str, Any] | None = None


class JobAccepted(msgspec.Struct):
    id: str
    type: str
    status: str
    status_url: str
    created_at: str


class JobError(msgspec.Struct):
    code: str
    message: str
    retryable: bool
    failed_step: str | None


class JobOut(msgspec.Struct):
    id: str
    type: str
    status: str
    progress: int | None
    step: str | None
    result: Any
    error: JobError | None
    attempts: int
    max_attempts: int
    input: Any
    metadata: dict[str, Any] | None
    cancel_requested: bool
    created_at: str
    started_at: str | None
    finished_at: str | None
    updated_at: str


class JobList(msgspec.Struct):
    data: list[JobOut]
    next_cursor: str | None


JOB_STATUSES = tuple(s.value for s in JobStatus)
