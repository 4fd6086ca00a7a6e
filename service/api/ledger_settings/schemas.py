"""The minimum part amount endpoints' models."""

from __future__ import annotations

from pydantic import BaseModel, Field

from service.api.schemas import GrantAmount, StrictModel


class MinPartAmountIn(StrictModel):
    amount: GrantAmount = Field(description="minor units; 0 lifts the minimum")


class MinPartAmountOut(BaseModel):
    currency: str
    amount: str
    """Minor units, as a string; "0" when the operator never set one (no minimum)."""
    updated_block: int | None


class MinPartAmountList(BaseModel):
    items: list[MinPartAmountOut]


class MinPartAmountWrite(BaseModel):
    tx_hash: str
    block_number: int
    indexed: bool
    min_part_amount: MinPartAmountOut


class DurationIn(StrictModel):
    seconds: int = Field(
        strict=True, ge=0, le=2**63 - 1, description="whole seconds (a day is 86400)", examples=[180 * 86_400]
    )


class DurationOut(BaseModel):
    seconds: int
    duration: str = Field(
        description="the same, as an ISO 8601 duration in days, hours, minutes and seconds (P365D, "
        "P1DT12H): never years or months, whose length varies"
    )
    updated_block: int | None = Field(
        description="block of the operator's last change as indexed; null: the deployment's default"
    )


class LedgerSettingsOut(BaseModel):
    max_tenor: DurationOut = Field(description="longest time from issue to maturity")
    grace_period: DurationOut = Field(description="time after maturity before an unpaid note is overdue")
    min_part_amounts: list[MinPartAmountOut] = Field(description="every currency with a minimum set")


class LedgerSettingsWrite(BaseModel):
    tx_hash: str
    block_number: int
    indexed: bool
    ledger_settings: LedgerSettingsOut
