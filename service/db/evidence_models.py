"""Trade evidence and evidence-backed receivables as the indexer derives them from the
EvidenceRegistry's events (and the ledger's `ReceivableConverted`).

Documents never reach the ledger or this database: a record keeps the document's hash only.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db.base import ADDRESS, HASH, Base, ExactInteger


class EvidenceRecord(Base):
    """A trade record a supplier registered against a buyer."""

    __tablename__ = "evidence_records"

    doc_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    supplier: Mapped[str] = mapped_column(ADDRESS)
    buyer: Mapped[str] = mapped_column(ADDRESS)
    kind: Mapped[str] = mapped_column(String(20))
    """purchase_order, delivery, acceptance, invoice, production_data or other."""
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    """None for a record without an amount."""
    amount: Mapped[int] = mapped_column(ExactInteger)
    registered_block: Mapped[int] = mapped_column(BigInteger)
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attester_count: Mapped[int] = mapped_column(Integer)
    """Live attestations (revoked ones no longer count)."""
    financed_note_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """The receivable's root note an invoice backs (None: not financed, or not an invoice)."""

    __table_args__ = (
        Index("ix_evidence_records_supplier_kind", "supplier", "kind"),
        Index("ix_evidence_records_buyer", "buyer"),
    )


class EvidenceAttestation(Base):
    """A data provider's attestation of a record (at most one per provider and record, ever)."""

    __tablename__ = "evidence_attestations"

    doc_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    attester: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    attested_block: Mapped[int] = mapped_column(BigInteger)
    attested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_block: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (Index("ix_evidence_attestations_attester", "attester"),)


class Receivable(Base):
    """An evidence-backed receivable: the root note a supplier originated on an attested invoice."""

    __tablename__ = "receivables"

    note_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    supplier: Mapped[str] = mapped_column(ADDRESS)
    buyer: Mapped[str] = mapped_column(ADDRESS)
    invoice_hash: Mapped[str] = mapped_column(HASH)
    supporting: Mapped[list[str]] = mapped_column(JSON)
    """The supporting records' hashes, in the order the supplier named them."""
    attesters_at_origination: Mapped[int] = mapped_column(Integer)
    originated_block: Mapped[int] = mapped_column(BigInteger)
    originated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    converted_block: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    converted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (
        Index("ix_receivables_supplier", "supplier"),
        Index("ix_receivables_buyer", "buyer"),
        Index("ix_receivables_invoice_hash", "invoice_hash", unique=True),
    )
