"""Annotated types for values the gateway takes from paths, queries and bodies, validated at the
edge (422 problem+json) before any of them reaches the ledger, a cache or SQL.

- `Currency`: an ISO 4217 alphabetic code (the list of the maintained `pycountry` package). The
  ledger stores three bytes of whatever it is given, so anything longer would alias a real code.
- `LedgerId`: a note or offer id as a decimal string (or JSON integer): the ledger's ids are
  uint256, the index keeps them in SQL BIGINT, so an id above 2**63-1 names nothing and would
  overflow the database driver.
- `Bytes32Text`: text stored on the ledger as bytes32: at most 32 bytes of UTF-8, whatever its
  length in characters.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Annotated, Any

import pycountry
from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

from service.domain import MAX_ID_DIGITS, MAX_LEDGER_ID

_CODE = re.compile(r"[A-Z]{3}")


@cache
def iso_4217_codes() -> frozenset[str]:
    """Every ISO 4217 alphabetic code (active currencies, funds, precious metals, XTS, XXX)."""
    return frozenset(str(currency.alpha_3) for currency in pycountry.currencies)


def is_currency_code(value: str) -> bool:
    return bool(_CODE.fullmatch(value)) and value in iso_4217_codes()


def _currency(value: str) -> str:
    if not _CODE.fullmatch(value):
        raise ValueError("a currency is an ISO 4217 code: three capital letters, e.g. USD")
    if value not in iso_4217_codes():
        raise ValueError(f"{value} is not an ISO 4217 currency code")
    return value


Currency = Annotated[
    str,
    AfterValidator(_currency),
    WithJsonSchema(
        {"type": "string", "pattern": "^[A-Z]{3}$", "description": "ISO 4217 currency code, e.g. USD"}
    ),
]


def _ledger_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("an id is a string of decimal digits")
    number: int
    if isinstance(value, str):
        if not value.isascii() or not value.isdigit() or len(value) > MAX_ID_DIGITS:
            raise ValueError("an id is a string of decimal digits")
        number = int(value)
    else:
        number = value
    if number < 0:
        raise ValueError("an id is not negative")
    if number > MAX_LEDGER_ID:
        raise ValueError(f"no id exceeds {MAX_LEDGER_ID} (2**63-1)")
    return number


LedgerId = Annotated[
    int,
    BeforeValidator(_ledger_id),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^[0-9]{1,19}$",
            "description": "a note or offer id: decimal digits, at most 2**63-1",
        }
    ),
]


def _bytes32_text(value: str) -> str:
    if len(value.encode("utf-8")) > 32:
        raise ValueError("at most 32 bytes of UTF-8 (a character outside ASCII takes 2 to 4)")
    return value


Bytes32Text = Annotated[str, Field(max_length=32), AfterValidator(_bytes32_text)]
"""Text the ledger keeps as bytes32 (deposit and payout references, freeze reasons)."""
