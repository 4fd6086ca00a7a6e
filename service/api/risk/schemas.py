"""The risk views' answer models (JSON, or CSV with the same columns)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field


class ExposureRow(BaseModel):
    obligor: str
    obligor_member: str | None
    credit_limit: str
    grant: str | None = Field(description="the calling financier's own grant (None for others)")
    outstanding: str = Field(description="the ledger's outstanding amount of the obligor")
    headroom: str = Field(description="credit limit minus outstanding (negative when over)")
    live_notes: int
    live_amount: str = Field(description="unpaid remainder of live notes")
    overdue_notes: int
    overdue_amount: str
    obligor_name: str | None = Field(description="the obligor's name if it is a gateway member")


class LadderRow(BaseModel):
    week: str = Field(description="ISO week of maturity, e.g. 2026-W18")
    week_start: date
    currency: str
    notes: int
    amount: str = Field(description="unpaid remainder due that week")
    overdue_amount: str
    amount_display: str = Field(description="`amount` in major units with the currency")
    overdue_amount_display: str = Field(description="`overdue_amount` in major units with the currency")


class ConcentrationRow(BaseModel):
    currency: str
    holder: str
    holder_member: str | None
    notes: int
    amount: str
    share_bps: int = Field(description="share of the currency's total, in basis points (rounded down)")
    holder_name: str | None = Field(description="the holder's name if it is a gateway member")
    amount_display: str = Field(description="`amount` in major units with the currency")


class OverdueRow(BaseModel):
    note_id: str
    root_id: str
    obligor: str
    obligor_member: str | None
    holder: str
    holder_member: str | None
    currency: str
    amount: str
    paid_amount: str
    remaining: str
    maturity: datetime
    overdue_since: datetime
    days_overdue: int
    marked: bool
    frozen: bool
    obligor_name: str | None = Field(description="the obligor's name if it is a gateway member")
    holder_name: str | None = Field(description="the holder's name if it is a gateway member")
    amount_display: str = Field(description="`amount` in major units with the currency")
    remaining_display: str = Field(description="`remaining` in major units with the currency")


class RiskMeta(BaseModel):
    as_of: datetime
    grace_period_seconds: int
    scope: Literal["all", "granted"]


class ExposureOut(RiskMeta):
    items: list[ExposureRow]


class LadderOut(RiskMeta):
    items: list[LadderRow]


class ConcentrationOut(RiskMeta):
    items: list[ConcentrationRow]


class OverdueOut(RiskMeta):
    items: list[OverdueRow]


class EvidenceExposureRow(BaseModel):
    side: Literal["supplier", "buyer"] = Field(
        description="supplier: what it owes as obligor of record; buyer: what its suppliers' "
        "receivables on it carry (its credit line untouched)"
    )
    party: str
    party_member: str | None
    party_name: str | None = Field(description="the party's name if it is a gateway member")
    receivables: int = Field(description="live evidence-backed receivables (trees)")
    live_amount: str = Field(description="unpaid remainder of their live notes")
    financed_amount: str = Field(description="of which held by someone other than the supplier")
    overdue_amount: str
    counterparties: int = Field(description="distinct buyers (supplier rows) or suppliers (buyer rows)")


class EvidenceExposureOut(RiskMeta):
    items: list[EvidenceExposureRow]
