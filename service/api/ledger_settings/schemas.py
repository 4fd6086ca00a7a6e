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
