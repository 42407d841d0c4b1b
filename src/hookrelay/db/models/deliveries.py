from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from hookrelay.db.models.base import Base
from hookrelay.db.types import UTCDateTime

UNDELIVERED = ("pending", "retrying")


class Delivery(Base):
    """One event × one endpoint: the unit that is retried, succeeds, or is dead-lettered."""

    __tablename__ = "deliveries"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    app_id: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When the next attempt is due; NULL once the delivery is finished.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # A worker's claim: nobody else sends this delivery until it lapses.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Last time a message was sent for it; the scheduler re-sends after a quiet period.
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_response_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    dead_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # Attempts made before the current run through the retry schedule: a replayed or recovered
    # delivery starts the schedule again while its attempt numbers keep counting up.
    retry_base: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # What caused the next attempt (scheduled, recover, replay), recorded on the attempt row.
    next_trigger: Mapped[str] = mapped_column(String(16), default="scheduled", server_default="scheduled")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        # The due-work scan touches only undelivered rows, however many succeeded ones pile up.
        Index(
            "ix_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status IN ('pending', 'retrying')"),
            sqlite_where=text("status IN ('pending', 'retrying')"),
        ),
        Index("ix_deliveries_app_id_id", "app_id", "id"),
        # The delivery log's filters, each newest first within an application.
        # By status: succeeded rows are left out (migration 0005), so that recording a success
        # adds no entry here; most rows are succeeded ones, and ix_deliveries_app_id_id finds
        # them densely.
        Index(
            "ix_deliveries_not_succeeded",
            "app_id", "status", "id",
            postgresql_where=text("status <> 'succeeded'"),
            sqlite_where=text("status <> 'succeeded'"),
        ),
        Index("ix_deliveries_app_id_event_type_id", "app_id", "event_type", "id"),
        # The DLQ: dead rows only, by reason.
        Index(
            "ix_deliveries_dead",
            "app_id", "dead_reason", "id",
            postgresql_where=text("status = 'dead'"),
            sqlite_where=text("status = 'dead'"),
        ),
        Index("ix_deliveries_event_id", "event_id"),
        Index("ix_deliveries_endpoint_id_id", "endpoint_id", "id"),
        # Room on each page so that a worker's lease (locked_until only) is a HOT update, even when
        # a claim leases every row of a page (migrations 0004 and 0006).
        {"postgresql_with": {"fillfactor": 50}},
    )
