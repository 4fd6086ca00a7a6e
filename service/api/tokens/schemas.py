"""Pydantic models of the settlement-token endpoints: tokenized deposits per currency, the money
that discounts and settlements move. Amounts in minor units, in as integers or digit strings, out as
strings."""

from __future__ import annotations

from pydantic import BaseModel, Field

from service.api.params import Bytes32Text, Currency
from service.api.schemas import (
    EXAMPLE_SUPPLIER,
    Amount,
    GrantAmount,
    Party,
    StrictModel,
    with_example,
)


class TokenRegister(StrictModel):
    model_config = with_example(lambda: {"currency": "CNY", "decimals": 2})

    currency: Currency
    decimals: int = Field(default=2, ge=0, le=18, description="minor-unit digits of the currency")


class TokenMovement(StrictModel):
    model_config = with_example(
        lambda: {"member": EXAMPLE_SUPPLIER, "amount": "2500000000", "reference": "DEP-2025-000187"}
    )

    member: Party
    amount: Amount
    reference: Bytes32Text = Field(
        min_length=1, description="the settlement bank's reference of the deposit or payout (<= 32 bytes)"
    )


class AllowanceSet(StrictModel):
    model_config = with_example(lambda: {"amount": "100000000"})

    amount: GrantAmount


class TokenOut(BaseModel):
    currency: str
    token: str
    registered_block: int


class TokenList(BaseModel):
    items: list[TokenOut]


class TokenWrite(BaseModel):
    tx_hash: str
    block_number: int
    indexed: bool
    token: TokenOut


class AccountOut(BaseModel):
    """A member's settlement-token account, read from the chain (token movements are not indexed)."""

    member: str
    address: str
    currency: str
    balance: str
    ledger_allowance: str = Field(description="what the ledger may take for discounts and settlements")


class AccountWrite(BaseModel):
    tx_hash: str
    block_number: int
    account: AccountOut
