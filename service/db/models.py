"""SQLAlchemy 2 typed models of the ledger state the indexer maintains.

Everything here is derived from contract events alone and can be rebuilt by re-indexing. Amounts are
exact integers (NUMERIC(38, 0)), never floats. Addresses are EIP-55 checksummed strings. Note ids fit
in BIGINT: `root_seq << 32 | index`, so up to 2^31 roots of 2^32 notes each.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

ADDRESS = String(42)
HASH = String(66)


class ExactInteger(TypeDecorator[int]):
    """An arbitrary-precision integer stored as NUMERIC(38, 0) and always returned as `int`."""

    impl = Numeric(38, 0)
    cache_ok = True

    def process_bind_param(self, value: int | None, dialect: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"ExactInteger takes int, got {type(value).__name__}")
        return value

    def process_result_value(self, value: Any, dialect: Any) -> int | None:
        if value is None:
            return None
        return int(value)


class Base(DeclarativeBase):
    """Declarative base of all credchain tables."""


class Member(Base):
    """A registry member as the chain knows it (roles bitmask, status)."""

    __tablename__ = "members"

    address: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    roles: Mapped[int] = mapped_column(Integer)
    status: Mapped[int] = mapped_column(Integer)
    onboarded_block: Mapped[int] = mapped_column(BigInteger)
    updated_block: Mapped[int] = mapped_column(BigInteger)


class Note(Base):
    """A credit note: one node of a tree rooted at an issued note."""

    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_id: Mapped[int] = mapped_column(BigInteger)
    parent_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    depth: Mapped[int] = mapped_column(Integer)
    holder: Mapped[str] = mapped_column(ADDRESS)
    obligor: Mapped[str] = mapped_column(ADDRESS)
    amount: Mapped[int] = mapped_column(ExactInteger)
    currency: Mapped[str] = mapped_column(String(3))
    maturity: Mapped[int] = mapped_column(BigInteger)
    document_hash: Mapped[str] = mapped_column(HASH)
    status: Mapped[int] = mapped_column(Integer)
    frozen: Mapped[bool] = mapped_column(Boolean, default=False)
    created_block: Mapped[int] = mapped_column(BigInteger)
    created_tx: Mapped[str] = mapped_column(HASH)
    updated_block: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_notes_root_id", "root_id", "id"),
        Index("ix_notes_parent_id", "parent_id"),
        Index("ix_notes_holder_status", "holder", "status"),
        Index("ix_notes_obligor_status", "obligor", "status"),
    )


class Event(Base):
    """Every contract event, decoded; the audit trail of each note."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(HASH)
    block_time: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(HASH)
    log_index: Mapped[int] = mapped_column(Integer)
    contract: Mapped[str] = mapped_column(ADDRESS)
    name: Mapped[str] = mapped_column(String(64))
    note_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    root_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    args: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (
        UniqueConstraint("tx_hash", "log_index", name="uq_events_tx_log"),
        Index("ix_events_note_id", "note_id", "block_number", "log_index"),
        Index("ix_events_root_id", "root_id", "block_number", "log_index"),
        Index("ix_events_block_number", "block_number"),
    )


class CreditGrant(Base):
    """One financier's grant to one obligor."""

    __tablename__ = "credit_grants"

    financier: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    obligor: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    amount: Mapped[int] = mapped_column(ExactInteger)
    updated_block: Mapped[int] = mapped_column(BigInteger)


class ObligorCredit(Base):
    """An obligor's total limit (sum of grants) and outstanding face amount of live notes."""

    __tablename__ = "obligor_credit"

    obligor: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    credit_limit: Mapped[int] = mapped_column(ExactInteger)
    outstanding: Mapped[int] = mapped_column(ExactInteger)
    updated_block: Mapped[int] = mapped_column(BigInteger)


class LedgerConfig(Base):
    """Contract-wide settings the events carry: operator, pending operator, maximum tenor."""

    __tablename__ = "ledger_config"

    contract: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    operator: Mapped[str | None] = mapped_column(ADDRESS, nullable=True)
    pending_operator: Mapped[str | None] = mapped_column(ADDRESS, nullable=True)
    max_tenor: Mapped[int] = mapped_column(BigInteger)


class Block(Base):
    """A block the indexer has applied: its hash and parent hash, to detect reorganisations."""

    __tablename__ = "blocks"

    number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(HASH)
    parent_hash: Mapped[str] = mapped_column(HASH)
    timestamp: Mapped[int] = mapped_column(BigInteger)


class Checkpoint(Base):
    """Where the indexer stands: the last block fully applied, written in the same transaction."""

    __tablename__ = "indexer_checkpoint"

    contract: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    last_block: Mapped[int] = mapped_column(BigInteger)
    last_block_hash: Mapped[str] = mapped_column(HASH)
    events_applied: Mapped[int] = mapped_column(BigInteger, default=0)
