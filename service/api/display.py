"""Amounts as people read them: `"USD 1,000,000.00"` next to the contract's string of minor units.

The currency's minor-unit exponent is ISO 4217's (the maintained `iso4217` package: JPY 0, USD 2,
BHD 3; codes without a minor unit, such as XAU or XXX, 0). The arithmetic is on integers only: a
display string parsed back (`parse_display_amount`) gives exactly the amount it came from.
"""

from __future__ import annotations

from functools import cache

from iso4217 import Currency


@cache
def minor_unit_exponent(currency: str) -> int:
    """ISO 4217's number of decimals of `currency` (0 for a code without a minor unit or unknown)."""
    try:
        exponent = Currency(currency).exponent
    except ValueError:
        return 0
    return exponent or 0


def display_amount(amount: int | str, currency: str) -> str:
    """`amount` minor units of `currency` in major units, with thousands separators and the code
    first: 100000000 USD is `"USD 1,000,000.00"`, -5 JPY `"JPY -5"`, 1 BHD `"BHD 0.001"`."""
    value = int(amount)
    exponent = minor_unit_exponent(currency)
    sign = "-" if value < 0 else ""
    major, minor = divmod(abs(value), 10**exponent)
    text = f"{major:,}"
    if exponent:
        text += "." + str(minor).zfill(exponent)
    return f"{currency} {sign}{text}"


def parse_display_amount(text: str) -> tuple[int, str]:
    """(minor units, currency) of a `display_amount` string: its inverse."""
    currency, number = text.split(" ", 1)
    negative = number.startswith("-")
    digits = number.lstrip("-").replace(",", "")
    whole, _, fraction = digits.partition(".")
    exponent = minor_unit_exponent(currency)
    if len(fraction) != exponent:
        raise ValueError(f"{currency} has {exponent} decimals: {text!r}")
    value = int(whole) * 10**exponent + (int(fraction) if fraction else 0)
    return (-value if negative else value), currency
