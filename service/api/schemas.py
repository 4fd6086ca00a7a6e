"""Pydantic models at the edge of the API. Amounts come in as JSON integers or decimal strings of
minor units and always go out as strings; note ids go out as strings (they exceed 2**53)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from service.domain import MAX_AMOUNT

_AMOUNT_SCHEMA = {
    "oneOf": [
        {"type": "string", "pattern": "^[0-9]{1,25}$"},
        {"type": "integer", "minimum": 1, "maximum": MAX_AMOUNT},
    ],
    "description": "minor units, a positive integer up to 2**80-1, as a JSON integer or decimal string",
}


def _parse_amount(value: Any, *, allow_zero: bool) -> int:
    result: int
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("amount must be an integer or a string of decimal digits (minor units), not a float")
    if isinstance(value, str):
        if not value.isascii() or not value.isdigit() or len(value) > 30:
            raise ValueError("amount must be a string of decimal digits (minor units)")
        result = int(value)
    else:
        result = value
    value = result
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError("amount must be positive" if not allow_zero else "amount must not be negative")
    if value > MAX_AMOUNT:
        raise ValueError(f"amount must not exceed {MAX_AMOUNT} (2**80-1)")
    return result


Amount = Annotated[
    int,
    BeforeValidator(lambda v: _parse_amount(v, allow_zero=False)),
    WithJsonSchema(_AMOUNT_SCHEMA),
]
GrantAmount = Annotated[
    int,
    BeforeValidator(lambda v: _parse_amount(v, allow_zero=True)),
    WithJsonSchema({**_AMOUNT_SCHEMA, "description": "minor units, zero withdraws the grant"}),
]
Party = Annotated[str, Field(min_length=1, max_length=64, description="member id or 0x address")]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ------------------------------------------------------------------ requests


class Empty(StrictModel):
    """Actions without a body accept an empty JSON object (or no body)."""


# ------------------------------------------------------------------ responses


def to_datetime(unix: int) -> datetime:
    return datetime.fromtimestamp(unix, UTC)
