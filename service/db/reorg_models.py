"""The reorganisation journal: what each reorganisation the indexer rolled back removed.

Written by the indexer in the rollback's own transaction (`service.indexer.reorg_journal`), read by
the gateway (a replay of a reverted write, `GET /v1/transactions/{hash}`, /metrics). Like the
gateway's tables it is not derived from the chain as it is now, so re-indexing keeps it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db.base import ADDRESS, HASH, Base


class Reorg(Base):
    """One reorganisation: the index was at `old_head` and was rolled back to `fork_block` (the
    highest block still on the chain)."""

    __tablename__ = "reorgs"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    contract: Mapped[str] = mapped_column(ADDRESS)
    fork_block: Mapped[int] = mapped_column(BigInteger)
    fork_hash: Mapped[str] = mapped_column(String(66))
    """"" if even the first indexed block changed."""
    old_head: Mapped[int] = mapped_column(BigInteger)
    detected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    events_removed: Mapped[int] = mapped_column(Integer)


class ReorgTransaction(Base):
    """A ledger transaction (one that had events) of a block a reorganisation removed, and the notes
    its events concerned."""

    __tablename__ = "reorg_transactions"

    reorg_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("reorgs.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    tx_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    note_ids: Mapped[list[int]] = mapped_column(JSON)

    __table_args__ = (Index("ix_reorg_transactions_tx_hash", "tx_hash"),)


class ReorgNote(Base):
    """A note whose events a reorganisation removed; `removed`: the note itself no longer exists
    (its creation was undone), else it was rebuilt from its remaining events."""

    __tablename__ = "reorg_notes"

    reorg_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("reorgs.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    note_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    removed: Mapped[bool] = mapped_column(Boolean)


class ReorgIdempotencyRecord(Base):
    """An idempotency record (member and key) one of whose recorded transactions a reorganisation
    removed: a replay of its answer is `reverted-by-reorg` (service.api.idempotency)."""

    __tablename__ = "reorg_idempotency_records"

    reorg_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("reorgs.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    record_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    member_id: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(255))
    tx_hashes: Mapped[list[str]] = mapped_column(JSON)
    """The record's transactions that the reorganisation removed."""

    __table_args__ = (Index("ix_reorg_idempotency_records_record_id", "record_id"),)
