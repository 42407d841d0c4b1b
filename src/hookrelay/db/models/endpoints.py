from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hookrelay.db.models.base import Base
from hookrelay.db.types import JsonColumn, UTCDateTime


class Endpoint(Base):
    """A receiver URL of an application, with the event types it subscribes to.

    Its signing secret is kept in clear because every attempt needs it to sign; a rotated-out
    secret is kept until ``previous_secret_expires_at`` so that both sign during the grace.
    """

    __tablename__ = "endpoints"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    app_id: Mapped[str] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    event_types: Mapped[Any] = mapped_column(JsonColumn)
    rate_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    headers: Mapped[Any] = mapped_column(JsonColumn)
    endpoint_metadata: Mapped[Any] = mapped_column("metadata", JsonColumn, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    disabled_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
    secret: Mapped[str] = mapped_column(String(128))
    previous_secret: Mapped[str | None] = mapped_column(String(128), nullable=True)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The circuit breaker (domain/breaker.py), shared by every worker and scheduler.
    breaker_state: Mapped[str] = mapped_column(String(16), default="closed", server_default="closed")
    breaker_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    breaker_opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    breaker_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    breaker_cooldown_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    breaker_probe_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    breaker_probe_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_endpoints_app_id_id", "app_id", "id"),)
