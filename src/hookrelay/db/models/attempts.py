from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hookrelay.db.models.base import Base
from hookrelay.db.types import JsonColumn, UTCDateTime


class Attempt(Base):
    """One HTTP try of a delivery, as the receiver saw it (response body: first 4 KiB)."""

    __tablename__ = "attempts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # No foreign key, on purpose (migration 0005): its check, a locking look-up per attempt
    # row, cost about a tenth of PostgreSQL's CPU per delivery. The one writer (the worker's
    # record of a batch it holds the lease of) names deliveries that exist, and whatever deletes
    # deliveries deletes their attempts with them (retention, endpoint deletion); an attempt
    # recorded while its endpoint was being deleted is swept by retention.
    delivery_id: Mapped[str] = mapped_column(String(40))
    app_id: Mapped[str] = mapped_column(String(40))
    number: Mapped[int] = mapped_column(Integer)
    trigger: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    duration_ms: Mapped[float] = mapped_column(Float)
    request_url: Mapped[str] = mapped_column(Text)
    request_headers: Mapped[Any] = mapped_column(JsonColumn)
    response_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_headers: Mapped[Any] = mapped_column(JsonColumn, nullable=True)
    response_body: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    outcome: Mapped[str] = mapped_column(String(16))

    __table_args__ = (
        Index("ix_attempts_delivery_id_number", "delivery_id", "number"),
        Index("ix_attempts_started_at", "started_at"),
    )
