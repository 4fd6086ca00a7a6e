"""The gateway's own tables for evidence-backed receivables: each financier's financing policy and
the offers auto-approval made (one per receivable per financier). Like the alerts, they are not
derived from the chain: the offers themselves are ledger state, indexed in `discount_offers`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db.base import ADDRESS, Base, ExactInteger


class ReceivablePolicy(Base):
    """A financier's policy for evidence-backed receivables (`service.receivables.policy`)."""

    __tablename__ = "receivable_policies"

    financier: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    min_score: Mapped[int] = mapped_column(Integer)
    min_attesters: Mapped[int] = mapped_column(Integer)
    four_way_match_required: Mapped[bool] = mapped_column(Boolean)
    advance_rate_bps: Mapped[int] = mapped_column(Integer)
    rate_bands: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    """[{"min_score": 500, "annual_rate_bps": 800}, ...]"""
    max_exposure_per_supplier: Mapped[int] = mapped_column(ExactInteger)
    auto_approve: Mapped[bool] = mapped_column(Boolean)
    offer_validity_seconds: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(32))


class AutoOffer(Base):
    """The decision of a financier's auto-approval on a receivable: claimed (`pending`) before the
    offer is sent, so that two evaluators never offer twice; `offered` with the offer's id, or
    `failed` with the reason (the ledger refused)."""

    __tablename__ = "receivable_auto_offers"

    note_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    financier: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    offer_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    price: Mapped[int | None] = mapped_column(ExactInteger, nullable=True)
    reason: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
