"""Amounts as the console shows and reads them: major units with the currency, converted exactly to
and from the ledger's integer minor units (string arithmetic, never a float).

The minor-unit exponent is the gateway's one source, `service.api.display.minor_unit_exponent`
(ISO 4217, as the settlement tokens are registered): USD 2, JPY 0, BHD 3."""

from __future__ import annotations

import re

from service.api.display import display_amount, minor_unit_exponent
from service.domain import MAX_AMOUNT

SYMBOLS: dict[str, str] = {"CNY": "¥", "JPY": "¥", "EUR": "€", "GBP": "£"}
"""The symbol shown after the code where the code alone is not what people read (CNY ¥1,000.00);
none for USD: `USD 1,000.00`."""

_NUMBER = re.compile(r"^(\d+)(?:\.(\d+))?$")
_GROUPED = re.compile(r"^\d{1,3}(?:,\d{3})*(?:\.\d+)?$")


class AmountError(ValueError):
    """An amount a person typed that is not one: `key` names the console message explaining why."""

    def __init__(self, key: str, **values: str) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


def format_amount(amount: int | str, currency: str) -> str:
    """`amount` minor units as `USD 1,000,000.00` or `CNY ¥1,000,000.00`."""
    text = display_amount(amount, currency)
    symbol = SYMBOLS.get(currency)
    if symbol is None:
        return text
    code, number = text.split(" ", 1)
    return f"{code} {symbol}{number}"


def format_major(amount: int | str, currency: str) -> str:
    """`amount` minor units in major units without the code or grouping: `1000000.00` (form values)."""
    return display_amount(amount, currency).split(" ", 1)[1].replace(",", "")


def bps_percent(bps: int) -> str:
    """Basis points as an exact percentage with two decimals, without the sign (1234 -> "12.34")."""
    return f"{bps // 100}.{bps % 100:02d}"


def parse_amount(text: str, currency: str, *, allow_zero: bool = False) -> int:
    """The minor units of `text`, an amount in major units as people type it: `1,000,000.00`,
    `1000000`, `USD 1,000.5`, `¥ 12.30`. AmountError if it is not a positive amount of `currency`
    with at most its number of decimals (or zero, with `allow_zero`)."""
    cleaned = text.strip().replace("\u00a0", " ")
    upper = cleaned.upper()
    if upper.startswith(currency):
        cleaned = cleaned[len(currency) :].strip()
    elif upper.endswith(currency):
        cleaned = cleaned[: -len(currency)].strip()
    symbol = SYMBOLS.get(currency)
    if symbol and cleaned.startswith(symbol):
        cleaned = cleaned[len(symbol) :].strip()
    if not cleaned:
        raise AmountError("amount_required")
    if "," in cleaned and not _GROUPED.match(cleaned):
        raise AmountError("amount_invalid")
    match = _NUMBER.match(cleaned.replace(",", ""))
    if match is None:
        raise AmountError("amount_invalid")
    whole, fraction = match.group(1), match.group(2) or ""
    exponent: int = minor_unit_exponent(currency)
    if len(fraction) > exponent:
        raise AmountError("amount_too_many_decimals", currency=currency, decimals=str(exponent))
    too_large = AmountError("amount_too_large", maximum=format_amount(MAX_AMOUNT, currency))
    if len(whole.lstrip("0")) > len(str(MAX_AMOUNT)):  # before int(): no huge conversion
        raise too_large
    value: int = int(whole) * 10**exponent + (int(fraction.ljust(exponent, "0")) if fraction else 0)
    if value > MAX_AMOUNT:
        raise too_large
    if value < 0 or (value == 0 and not allow_zero):
        raise AmountError("amount_not_positive")
    return value
