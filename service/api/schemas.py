"""Pydantic models at the edge of the API. Amounts come in as JSON integers or decimal strings of
minor units and always go out as strings; note ids go out as strings (they exceed 2**53)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic.config import JsonDict

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


# ------------------------------------------------------------------ request examples

EXAMPLE_OBLIGOR = "m_3f9a1c2b7d"
EXAMPLE_SUPPLIER = "m_5b1e0c7a42"
EXAMPLE_SUPPLIER_2 = "m_c04d9e1f86"
EXAMPLE_FINANCIER = "m_8d2f6e9b10"
EXAMPLE_DOCUMENT_HASH = "0x" + hashlib.sha256(b"%PDF-1.7 invoice INV-2025-0042").hexdigest()
"""What a caller sends as `document_hash`: the SHA-256 of the invoice's document."""


def days_ahead(days: int) -> str:
    """Noon UTC `days` from today, ISO 8601: a date in an example that is in the future whenever
    the example is built."""
    day = datetime.now(UTC).date() + timedelta(days=days)
    return datetime.combine(day, time(12), UTC).isoformat().replace("+00:00", "Z")


def with_example(build: Callable[[], dict[str, Any]]) -> ConfigDict:
    """The `model_config` of a request model whose JSON schema shows `build()` as its example. It
    is built with the schema (the OpenAPI document of each gateway process), not at import: its
    dates (`days_ahead`) stay in the future."""

    def extra(schema: JsonDict) -> None:
        schema["examples"] = [build()]

    return ConfigDict(json_schema_extra=extra)


# ------------------------------------------------------------------ requests


class Empty(StrictModel):
    """Actions without a body accept an empty JSON object (or no body)."""


# ------------------------------------------------------------------ responses


def to_datetime(unix: int) -> datetime:
    return datetime.fromtimestamp(unix, UTC)
