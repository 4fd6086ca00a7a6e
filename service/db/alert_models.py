"""Early-warning alerts and the policies that set their thresholds (`service.alerts`).

An alert is raised by a rule (`service.alerts.rules`) about a subject (an obligor, a note tree, a
member, a document), for an owner: a financier, for the rules evaluated with its own policy, or the
platform (owner NULL: the operator and the auditor see it). Its `key` (owner, rule, subject) is
unique among the alerts not resolved yet (a partial unique index): at most one live alert per
condition. Like the gateway's tables, alerts are not derived from the chain as it is now.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from service.db.base import ADDRESS, Base, ExactInteger


class Alert(Base):
    """One alert: `open` -> `acknowledged` -> `resolved` (resolved when its condition clears)."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    rule: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str | None] = mapped_column(ADDRESS, nullable=True)
    """The financier whose policy raised it; NULL: a platform alert (operator and auditor)."""
    subject_kind: Mapped[str] = mapped_column(String(16))
    """obligor, note, member, financier or document."""
    subject: Mapped[str] = mapped_column(String(80))
    """An address, a note id (decimal) or a document hash."""
    obligor: Mapped[str | None] = mapped_column(ADDRESS, nullable=True)
    """The obligor the alert concerns, if any (the closed loop and the evaluation scope use it)."""
    key: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)
    """What triggered it: amounts as strings of minor units, ratios in basis points (integers)."""
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (
        Index(
            "uq_alerts_live_key",
            "key",
            unique=True,
            postgresql_where=text("status <> 'resolved'"),
            sqlite_where=text("status <> 'resolved'"),
        ),
        Index("ix_alerts_owner_id", "owner", "id"),
        Index("ix_alerts_obligor_status", "obligor", "status"),
        Index("ix_alerts_status_rule", "status", "rule"),
    )


class AlertPolicy(Base):
    """Thresholds of the rules: the platform's defaults (`scope` = "platform", set by the operator)
    and a financier's overrides (`scope` = its address; NULL columns: the platform's value)."""

    __tablename__ = "alert_policies"

    scope: Mapped[str] = mapped_column(String(42), primary_key=True)
    utilisation_warning_bps: Mapped[int | None] = mapped_column(Integer, nullable=True)
    utilisation_critical_bps: Mapped[int | None] = mapped_column(Integer, nullable=True)
    shortfall_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    holder_concentration_bps: Mapped[int | None] = mapped_column(Integer, nullable=True)
    obligor_concentration_bps: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_tenor_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    velocity_holders: Mapped[int | None] = mapped_column(Integer, nullable=True)
    velocity_hours: Mapped[int | None] = mapped_column(Integer, nullable=True)
    block_offers_under_alert: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    """The closed loop: refuse this financier's discount offers on an obligor with a live
    funding-shortfall or overdue alert."""
    buyer_indirect_exposure: Mapped[int | None] = mapped_column(ExactInteger, nullable=True)
    """Minor units: a buyer's indirect (evidence-backed) exposure above it raises an alert."""
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(32))
