"""Webhook subscriptions and their delivery log (`service.webhooks.dispatcher` delivers them).

A subscription belongs to one member (`member_id`); it receives, in sequence order, the domain
events its owner may see (`service.api.events.visibility`) that match its event types and filters.
`cursor` is the last sequence number delivered with a 2xx answer: it only moves forward on a
delivery (and back on a replay), so nothing after it is ever skipped. The signing secret is kept
encrypted with the master secret (`service.webhooks.secrets`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.db.base import ADDRESS, Base

ID = BigInteger().with_variant(Integer, "sqlite")


class WebhookSubscription(Base):
    """A member's webhook endpoint: URL, event types (empty: all), filters, state and cursor."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    member_id: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(String(2048))
    event_types: Mapped[list[str]] = mapped_column(JSON)
    """Types delivered (`service.events.types.EVENT_TYPES`); empty: every type."""
    note_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    root_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    obligor: Mapped[str | None] = mapped_column(ADDRESS, nullable=True)
    description: Mapped[str | None] = mapped_column(String(200), nullable=True)
    encrypted_secret: Mapped[str] = mapped_column(Text)
    """The signing secret, AES-GCM under a key derived from the master secret."""
    status: Mapped[str] = mapped_column(String(16))
    """active, paused (by its owner, or by the dispatcher after failures: `pause_reason`), disabled."""
    pause_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    """The last sequence number delivered (a 2xx answer) or passed over as not for this subscription."""
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    total_failures: Mapped[int] = mapped_column(BigInteger, default=0)
    total_deliveries: Mapped[int] = mapped_column(BigInteger, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    """No attempt before this (backoff after a failure); None: at once."""
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_webhook_subscriptions_member_id", "member_id"),
        Index("ix_webhook_subscriptions_status_next", "status", "next_attempt_at"),
    )


class WebhookDelivery(Base):
    """One attempt to deliver one event to one subscription (kept for a bounded time)."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    subscription_id: Mapped[int] = mapped_column(
        ID, ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    event_seq: Mapped[int] = mapped_column(BigInteger)
    webhook_id: Mapped[str] = mapped_column(String(40))
    attempt: Mapped[int] = mapped_column(Integer)
    """1 for the first attempt at this event (since the cursor last moved), 2 for the next, ..."""
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    latency_ms: Mapped[float] = mapped_column(Float)
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_webhook_deliveries_subscription", "subscription_id", "id"),
        Index("ix_webhook_deliveries_attempted_at", "attempted_at"),
    )
