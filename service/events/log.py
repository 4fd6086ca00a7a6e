"""Appending to the domain event log (`service.db.event_models`).

Every writer (the indexer's batch hook, the reorganisation rollback, the early-warning rules) appends
through `append_events`, inside its own transaction: the sequence row is locked by the UPDATE until
that transaction ends, so sequence numbers are gap-free and assigned in commit order. On PostgreSQL
the transaction also notifies `EVENTS_CHANNEL` (delivered at commit) with the last sequence number,
so listeners (the stream, the dispatcher) wake without polling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import Connection, Table, func, insert, select, text, update

from service.db.event_models import DomainEvent, DomainEventSequence

EVENTS_CHANNEL: Final = "credchain_events"
"""The PostgreSQL NOTIFY channel of appended events (payload: the last sequence number)."""
SEQUENCE_NAME: Final = "events"

EVENTS: Table = DomainEvent.__table__  # type: ignore[assignment]
SEQUENCE: Table = DomainEventSequence.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class EventDraft:
    """A domain event before it has its sequence number."""

    type: str
    occurred_at: datetime
    data: dict[str, Any]
    contract: str | None = None
    block_number: int | None = None
    block_hash: str | None = None
    tx_hash: str | None = None
    log_index: int | None = None
    note_id: int | None = None
    root_id: int | None = None
    offer_id: int | None = None
    alert_id: int | None = None
    subject: str | None = None
    recipient: str | None = None
    retracts: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Reserved for writers' own bookkeeping; not stored."""

    def row(self, seq: int, recorded_at: datetime) -> dict[str, Any]:
        return {
            "seq": seq,
            "type": self.type,
            "occurred_at": self.occurred_at,
            "recorded_at": recorded_at,
            "contract": self.contract,
            "block_number": self.block_number,
            "block_hash": self.block_hash,
            "tx_hash": self.tx_hash,
            "log_index": self.log_index,
            "note_id": self.note_id,
            "root_id": self.root_id,
            "offer_id": self.offer_id,
            "alert_id": self.alert_id,
            "subject": self.subject,
            "recipient": self.recipient,
            "data": self.data,
            "retracts": self.retracts,
            "retracted_by": None,
        }


def reserve(conn: Connection, count: int) -> int:
    """Reserve `count` sequence numbers and return the first; the sequence row stays locked until
    the caller's transaction ends (that is what orders appenders)."""
    last = conn.execute(
        update(SEQUENCE)
        .where(SEQUENCE.c.name == SEQUENCE_NAME)
        .values(last=SEQUENCE.c.last + count)
        .returning(SEQUENCE.c.last)
    ).scalar()
    if last is None:  # a database made by create_all rather than the migrations
        conn.execute(insert(SEQUENCE).values(name=SEQUENCE_NAME, last=count))
        last = count
    return int(last) - count + 1


def append_events(conn: Connection, drafts: Sequence[EventDraft]) -> list[int]:
    """Append `drafts` in order, in the caller's transaction; returns their sequence numbers."""
    if not drafts:
        return []
    first = reserve(conn, len(drafts))
    now = datetime.now(UTC)
    conn.execute(insert(EVENTS), [draft.row(first + i, now) for i, draft in enumerate(drafts)])
    last = first + len(drafts) - 1
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT pg_notify(:channel, :payload)"), {"channel": EVENTS_CHANNEL, "payload": str(last)}
        )
    return list(range(first, last + 1))


def last_sequence(conn: Connection) -> int:
    """The highest committed sequence number (0: none yet)."""
    return int(conn.execute(select(func.coalesce(func.max(EVENTS.c.seq), 0))).scalar_one())
