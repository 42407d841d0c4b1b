from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hookrelay.db.models.base import Base
from hookrelay.db.types import JsonColumn, UTCDateTime


class Event(Base):
    """The outbox: one row per event, written in the transaction that caused it."""

    __tablename__ = "events"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    app_id: Mapped[str] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(128))
    data: Mapped[Any] = mapped_column(JsonColumn)
    # The exact webhook body, encoded once, so every attempt sends the same bytes.
    body: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The job whose terminal status produced it, for job.* events.
    source_job_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_events_app_id_id", "app_id", "id"),
        Index("ix_events_app_id_type_id", "app_id", "type", "id"),
        Index("ix_events_source_job_id", "source_job_id"),
        # Retention purges by age.
        Index("ix_events_created_at", "created_at"),
    )
