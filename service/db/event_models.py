"""The domain event log: what happened on the ledger (and what the gateway's rules found), told in
the words of the people it concerns, each with a gap-free sequence number.

Written by the indexer in the same transaction as the index batch that caused the events
(`service.events.derive`), by the reorganisation rollback (`event.retracted`) and by the early-warning
rules (`alert.*`); read by `GET /v1/events`, the event stream and the webhook dispatcher. Sequence
numbers are handed out under a row lock of `domain_event_sequence` (`service.events.log`), so they
are assigned in commit order: a reader that saw sequence N never later finds a smaller one appear.
Like the gateway's tables, the log is not derived from the chain as it is now: re-indexing keeps it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db.base import ADDRESS, HASH, Base


class DomainEvent(Base):
    """One domain event (`note.issued`, `offer.accepted`, `alert.raised`, `event.retracted`, ...)."""

    __tablename__ = "domain_events"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    """Gap-free, in commit order (`service.events.log.append_events`)."""
    type: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    """The block's time for ledger events; the evaluation time for alerts."""
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    contract: Mapped[str | None] = mapped_column(ADDRESS, nullable=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    block_hash: Mapped[str | None] = mapped_column(HASH, nullable=True)
    tx_hash: Mapped[str | None] = mapped_column(HASH, nullable=True)
    log_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    note_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    root_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    offer_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    alert_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    subject: Mapped[str | None] = mapped_column(ADDRESS, nullable=True)
    """The member the event is about (a suspended member, an obligor whose limit changed), if any."""
    recipient: Mapped[str | None] = mapped_column(ADDRESS, nullable=True)
    """The member the event is addressed to (the supplier a pending note awaits, the new holder of
    a part, the financier whose offer was taken, an alert's owner), if any."""
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    """What a receiver needs without a second call (amounts as strings of minor units)."""
    retracts: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """For `event.retracted`: the sequence number of the event a reorganisation removed."""
    retracted_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """Set on an event a reorganisation removed: the sequence number of its `event.retracted`."""

    __table_args__ = (
        Index("ix_domain_events_block_number", "block_number"),
        Index("ix_domain_events_note_id", "note_id"),
        Index("ix_domain_events_root_id", "root_id"),
        Index("ix_domain_events_recipient", "recipient"),
        Index("ix_domain_events_type_seq", "type", "seq"),
    )


class DomainEventSequence(Base):
    """The last sequence number handed out (one row, `name` = "events"); its row lock orders the
    appenders (`service.events.log.append_events`)."""

    __tablename__ = "domain_event_sequence"

    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    last: Mapped[int] = mapped_column(BigInteger)
