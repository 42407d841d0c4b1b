from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hookrelay.db.models.base import Base
from hookrelay.db.types import JsonColumn, UTCDateTime


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    app_id: Mapped[str] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    input: Mapped[Any] = mapped_column(JsonColumn)
    job_metadata: Mapped[Any] = mapped_column("metadata", JsonColumn, nullable=True)
    result: Mapped[Any] = mapped_column(JsonColumn, nullable=True)
    error: Mapped[Any] = mapped_column(JsonColumn, nullable=True)
    progress: Mapped[int | None] = mapped_column(Integer, nullable=True)
    step: Mapped[str | None] = mapped_column(String(200), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    timeout_seconds: Mapped[float] = mapped_column(Float)
    # When a pending or retrying job may next run.
    run_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Last time a message was sent for it; the scheduler re-sends only after a quiet period.
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        # Listing newest first within an application; ids are time-ordered.
        Index("ix_jobs_app_id_id", "app_id", "id"),
        # The scheduler's two scans: due pending/retrying jobs, and lapsed leases.
        Index("ix_jobs_status_run_at", "status", "run_at"),
        Index("ix_jobs_status_lease_expires_at", "status", "lease_expires_at"),
    )
