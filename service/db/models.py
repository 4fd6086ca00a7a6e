"""SQLAlchemy 2 typed models of the ledger state the indexer maintains.

Everything here is derived from contract events alone and can be rebuilt by re-indexing. Amounts are
exact integers (NUMERIC(78, 0), see `ExactInteger`), never floats. Addresses are EIP-55 checksummed
strings. Note ids fit in BIGINT: `root_seq << 32 | index`, so up to 2^31 roots of 2^32 notes each.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.db import alert_models as _alert_models  # noqa: F401
from service.db import event_models as _event_models  # noqa: F401
from service.db import evidence_models as _evidence_models  # noqa: F401

# The gateway's own tables share `Base.metadata` (one schema, one migration history): importing the
# models registers them all. Neither module imports the other's classes (both build on `base`).
from service.db import gateway_models as _gateway_models  # noqa: F401
from service.db import receivable_models as _receivable_models  # noqa: F401
from service.db import reorg_models as _reorg_models  # noqa: F401
from service.db import webhook_models as _webhook_models  # noqa: F401
from service.db.base import ADDRESS as ADDRESS
from service.db.base import HASH as HASH
from service.db.base import Base as Base
from service.db.base import ExactInteger as ExactInteger


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
    # Paid so far (in part or in full: a settled note has paid_amount == amount).
    paid_amount: Mapped[int] = mapped_column(ExactInteger, default=0)
    # What the operator wrote off (the remainder when it did; 0 otherwise).
    written_off_amount: Mapped[int] = mapped_column(ExactInteger, default=0)

    __table_args__ = (
        Index("ix_notes_root_id", "root_id", "id"),
        Index("ix_notes_maturity_status", "maturity", "status"),
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
        # Events that concern no note (members, credit, configuration) are few; this partial index
        # lets the indexer's reorg rollback find them without scanning every note event.
        Index(
            "ix_events_non_note",
            "name",
            "block_number",
            postgresql_where=text("note_id IS NULL"),
            sqlite_where=text("note_id IS NULL"),
        ),
    )


class CreditGrant(Base):
    """One financier's relationship with one obligor: its grant, and whether the obligor approved
    it (`approved`; a row with `approved` false is a relationship the obligor withdrew, whose grant
    is 0). Only an approved relationship with a grant above 0 gives the financier visibility."""

    __tablename__ = "credit_grants"

    financier: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    obligor: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    amount: Mapped[int] = mapped_column(ExactInteger)
    updated_block: Mapped[int] = mapped_column(BigInteger)
    approved: Mapped[bool] = mapped_column(Boolean, default=False)
    approved_block: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """Block of the obligor's latest approval (None: never approved)."""


class ObligorCredit(Base):
    """An obligor's total limit (sum of grants) and outstanding face amount of live notes."""

    __tablename__ = "obligor_credit"

    obligor: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    credit_limit: Mapped[int] = mapped_column(ExactInteger)
    outstanding: Mapped[int] = mapped_column(ExactInteger)
    updated_block: Mapped[int] = mapped_column(BigInteger)


class LedgerConfig(Base):
    """Contract-wide settings the events carry: operator, pending operator, maximum tenor, grace
    period."""

    __tablename__ = "ledger_config"

    contract: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    operator: Mapped[str | None] = mapped_column(ADDRESS, nullable=True)
    pending_operator: Mapped[str | None] = mapped_column(ADDRESS, nullable=True)
    max_tenor: Mapped[int] = mapped_column(BigInteger)
    grace_period: Mapped[int] = mapped_column(BigInteger, default=432_000, server_default="432000")


class SettlementToken(Base):
    """The settlement token registered for each currency (SettlementTokenRegistered)."""

    __tablename__ = "settlement_tokens"

    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    token: Mapped[str] = mapped_column(ADDRESS)
    registered_block: Mapped[int] = mapped_column(BigInteger)


class MinPartAmount(Base):
    """The operator's minimum part amount of a currency (MinPartAmountSet): no issued note and no
    split part may be smaller. A currency without a row has no minimum (0)."""

    __tablename__ = "min_part_amounts"

    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    amount: Mapped[int] = mapped_column(ExactInteger)
    updated_block: Mapped[int] = mapped_column(BigInteger)


class DiscountOffer(Base):
    """A financier's offer to buy a note (DiscountOffered), and how it ended: `status` is 'open',
    'accepted' (NoteDiscounted) or 'cancelled' (DiscountOfferCancelled). An open offer whose note
    has since moved, split, been frozen or whose deadline passed is void; readers derive that."""

    __tablename__ = "discount_offers"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    note_id: Mapped[int] = mapped_column(BigInteger)
    root_id: Mapped[int] = mapped_column(BigInteger)
    financier: Mapped[str] = mapped_column(ADDRESS)
    holder: Mapped[str] = mapped_column(ADDRESS)
    price: Mapped[int] = mapped_column(ExactInteger)
    deadline: Mapped[int] = mapped_column(BigInteger)
    off_chain: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))
    # Off-chain offers: the financier's payment reference (DiscountPaymentRecorded), 0x-hex.
    payment_reference: Mapped[str | None] = mapped_column(HASH, nullable=True)
    created_block: Mapped[int] = mapped_column(BigInteger)
    created_tx: Mapped[str] = mapped_column(HASH)
    closed_block: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    closed_tx: Mapped[str | None] = mapped_column(HASH, nullable=True)

    __table_args__ = (
        Index("ix_discount_offers_note_id", "note_id"),
        Index("ix_discount_offers_root_id", "root_id"),
        # GET /v1/discount-offers?status=: the stored status and the side of the deadline.
        Index("ix_discount_offers_financier_status_deadline", "financier", "status", "deadline"),
        Index("ix_discount_offers_holder_status_deadline", "holder", "status", "deadline"),
    )


class Payment(Base):
    """One payment on a note (NotePaid): in settlement tokens (payment_reference NULL) or off the
    ledger, confirmed by the holder (its reference). `remaining` 0 means the note is settled."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    note_id: Mapped[int] = mapped_column(BigInteger)
    root_id: Mapped[int] = mapped_column(BigInteger)
    obligor: Mapped[str] = mapped_column(ADDRESS)
    holder: Mapped[str] = mapped_column(ADDRESS)
    amount: Mapped[int] = mapped_column(ExactInteger)
    remaining: Mapped[int] = mapped_column(ExactInteger)
    payment_reference: Mapped[str | None] = mapped_column(HASH, nullable=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_time: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(HASH)
    log_index: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        UniqueConstraint("tx_hash", "log_index", name="uq_payments_tx_log"),
        Index("ix_payments_note_id", "note_id"),
        Index("ix_payments_root_id", "root_id"),
        Index("ix_payments_block_number", "block_number"),
    )


class PaymentClaim(Base):
    """The obligor's unconfirmed claim of an off-chain payment on a note (PaymentClaimed); removed
    by the note's next payment of any kind (NotePaid: confirmed, in tokens or by settleRoot), its
    write-off (NoteWrittenOff) or the obligor's withdrawal (PaymentClaimWithdrawn). A new claim
    replaces it."""

    __tablename__ = "payment_claims"

    note_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_id: Mapped[int] = mapped_column(BigInteger)
    obligor: Mapped[str] = mapped_column(ADDRESS)
    holder: Mapped[str] = mapped_column(ADDRESS)
    amount: Mapped[int] = mapped_column(ExactInteger)
    payment_reference: Mapped[str] = mapped_column(HASH)
    block_number: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(HASH)


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
