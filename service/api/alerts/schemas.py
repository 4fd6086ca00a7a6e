"""Pydantic models of the alert endpoints (amounts in figures as strings, ratios in basis points)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, model_validator

from service.api.schemas import StrictModel


class AlertOut(BaseModel):
    id: str
    rule: str
    severity: str
    status: str = Field(description="open, acknowledged or resolved")
    owner: str | None = Field(description="the financier whose policy raised it; null: a platform alert")
    subject_kind: str = Field(description="obligor, note, member or document")
    subject: str
    obligor: str | None
    figures: dict[str, Any] = Field(
        description="what triggered it: amounts as strings, ratios in basis points"
    )
    raised_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None


class AlertPage(BaseModel):
    items: list[AlertOut]
    next_cursor: str | None


BPS = Field(default=None, ge=1, le=10_000, description="basis points (8000 = 80 %)")


class PolicyIn(StrictModel):
    """Thresholds; a field left out is inherited (a financier: the platform's; the platform: the
    built-in default)."""

    utilisation_warning_bps: int | None = BPS
    utilisation_critical_bps: int | None = BPS
    shortfall_days: int | None = Field(default=None, ge=1, le=366)
    holder_concentration_bps: int | None = BPS
    obligor_concentration_bps: int | None = BPS
    max_tenor_days: int | None = Field(default=None, ge=1, le=3_660)
    velocity_holders: int | None = Field(default=None, ge=1, le=10_000)
    velocity_hours: int | None = Field(default=None, ge=1, le=8_784)
    block_offers_under_alert: bool | None = Field(
        default=None,
        description="closed loop (financiers): refuse my discount offers on an obligor with a live "
        "funding-shortfall or overdue alert",
    )
    buyer_indirect_exposure: str | None = Field(
        default=None,
        pattern=r"^[0-9]{1,30}$",
        description="minor units, a string: alert when a buyer's suppliers' live evidence-backed "
        'receivables on it exceed this ("0": off)',
    )

    @model_validator(mode="after")
    def _ordered(self) -> PolicyIn:
        warning, critical = self.utilisation_warning_bps, self.utilisation_critical_bps
        if warning is not None and critical is not None and warning > critical:
            raise ValueError("utilisation_warning_bps must not be above utilisation_critical_bps")
        return self


class PolicyOut(BaseModel):
    scope: str = Field(description="platform, or the financier's address")
    overrides: dict[str, Any] = Field(description="what this policy sets itself")
    effective: dict[str, Any] = Field(description="the thresholds in force for its alerts")
