"""The funding endpoints' models. Ether amounts are integers of wei, as decimal strings in JSON."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field, WithJsonSchema

from service.api.schemas import StrictModel

MAX_TOP_UP_WEI = 10**30
"""The largest top-up accepted (10**12 ether: beyond any real funder's balance)."""


def parse_wei(value: Any) -> int:
    """A positive amount of wei from a JSON integer or a string of decimal digits (never a float)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("amount_wei must be an integer or a string of decimal digits (wei), not a float")
    if isinstance(value, str):
        if not value.isascii() or not value.isdigit() or len(value) > 31:
            raise ValueError("amount_wei must be a string of decimal digits (wei)")
        value = int(value)
    if value <= 0:
        raise ValueError("amount_wei must be positive")
    if value > MAX_TOP_UP_WEI:
        raise ValueError(f"amount_wei must not exceed {MAX_TOP_UP_WEI}")
    return int(value)


Wei = Annotated[
    int,
    BeforeValidator(parse_wei),
    WithJsonSchema(
        {
            "oneOf": [
                {"type": "string", "pattern": "^[0-9]{1,31}$"},
                {"type": "integer", "minimum": 1},
            ],
            "description": "wei (10**-18 ether), a positive integer as a JSON integer or decimal string",
            "examples": ["1000000000000000000"],
        }
    ),
]


class TopUpIn(StrictModel):
    member_id: str = Field(
        min_length=1, max_length=64, description="a member id, or `relayer` for the relayer's account"
    )
    amount_wei: Wei


class TopUpOut(BaseModel):
    member_id: str
    address: str
    amount_wei: str
    balance_wei: str
    """The account's balance after the top-up, in wei."""
    tx_hash: str
    block_number: int


class LowAccount(BaseModel):
    member_id: str
    name: str
    address: str
    balance_wei: str


class FundingStatus(BaseModel):
    chain: str
    """"in-process" (the embedded demo) or "http" (a node)."""
    funder_address: str | None
    """The account that pays new custodial accounts' gas (CREDCHAIN_FUNDER_KEY); null: none."""
    funder_balance_wei: str | None
    funding_wei: str
    """Ether given to each new custodial account, in wei ("0" or no funder: none)."""
    low_balance_threshold_wei: str
    """What one write may cost at today's gas price (`WRITE_GAS` gas): an account below it cannot write."""
    relayer_address: str | None
    relayer_balance_wei: str | None
    low_accounts: list[LowAccount]
    """Custodial accounts (and the relayer, as member `relayer`) below the threshold."""
