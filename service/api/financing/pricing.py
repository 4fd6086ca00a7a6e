"""Discount pricing: day counts, price for a rate and rate for a price, in exact integer arithmetic.

Conventions (the API's quotes and discount offers use these, and only these):

* **Rate**: an annual *simple discount rate* (bank discount), written as a decimal fraction in a
  string: ``"0.045"`` is 4.5 % a year. At most 18 decimal places, no sign, no exponent, no ``%``.
  A rate of 1 (100 %) or more is refused: it almost always is a percentage written as a number
  (``"4.5"`` meant as 4.5 %), and refusing it removes the ambiguity. JSON numbers are refused too
  (floats cannot carry a rate exactly).
* **Day count**: ``ACT/360`` (the default) or ``ACT/365``. ``days`` is the actual number of
  calendar days from the value date to the maturity date, both taken as UTC dates: the value date
  is the UTC date of the quote or of the offer, the maturity date the UTC date of the note's
  maturity. With unix seconds that is ``maturity // 86400 - value_time // 86400``.
* **Price for a rate**: ``discount = ceil(face * rate * days / basis)`` and
  ``price = face - discount``. Rounding the discount up puts the seller (the holder who sells the
  note) at a disadvantage of less than one minor unit, never the buyer.
* **Rate for a price**: the exact rate ``(face - price) * basis / (face * days)`` as a rational
  number; written out with at most 12 decimal places, rounded half to even, trailing zeros
  removed (``format_rate``).

No floats anywhere: rates are `fractions.Fraction`, amounts are `int`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

from service.domain import SECONDS_PER_DAY

MAX_RATE_DECIMALS = 18
"""Most decimal places a rate given to the API may have."""
RATE_DECIMALS = 12
"""Decimal places of a rate the API writes out (rounded half to even)."""
MAX_RATE = Fraction(1)
"""Rates must be below this (100 % a year): larger ones are taken for percentages and refused."""

_RATE_PATTERN = re.compile(r"([0-9]+)(?:\.([0-9]+))?")


class PricingError(ValueError):
    """A rate, basis, price or tenor that cannot be priced; the message says why."""


class Basis(StrEnum):
    """Day-count convention: actual days over a 360- or 365-day year."""

    ACT_360 = "ACT/360"
    ACT_365 = "ACT/365"

    @property
    def year_days(self) -> int:
        return 360 if self is Basis.ACT_360 else 365


DEFAULT_BASIS = Basis.ACT_360


def parse_basis(text: str | None) -> Basis:
    """The basis named by `text` (``ACT/360`` when None); PricingError otherwise."""
    if text is None:
        return DEFAULT_BASIS
    for basis in Basis:
        if text.upper() == basis.value:
            return basis
    raise PricingError(f"basis must be one of {', '.join(b.value for b in Basis)}, not {text!r}")


def parse_rate(text: object) -> Fraction:
    """The annual rate a decimal-fraction string stands for (``"0.045"`` -> 45/1000)."""
    if not isinstance(text, str):
        raise PricingError('the rate must be a string holding a decimal fraction, such as "0.045"')
    if "%" in text:
        raise PricingError('give the rate as a decimal fraction without "%": 4.5 % is "0.045"')
    match = _RATE_PATTERN.fullmatch(text) if len(text) <= 40 else None
    if match is None:
        raise PricingError(f'{text!r} is not a decimal fraction such as "0.045"')
    whole, decimals = match.group(1), match.group(2) or ""
    if len(decimals) > MAX_RATE_DECIMALS:
        raise PricingError(f"a rate has at most {MAX_RATE_DECIMALS} decimal places")
    rate = Fraction(int(whole + decimals), 10 ** len(decimals))
    if rate >= MAX_RATE:
        raise PricingError(
            f"rates are decimal fractions below 1: {text!r} would be {format_rate(rate * 100)} % a year; "
            '4.5 % is "0.045"'
        )
    return rate


def format_rate(rate: Fraction, decimals: int = RATE_DECIMALS) -> str:
    """`rate` with at most `decimals` decimal places, rounded half to even, trailing zeros removed
    (``Fraction(9, 200)`` -> ``"0.045"``, ``Fraction(0)`` -> ``"0"``)."""
    if rate < 0:
        raise PricingError("rates are not negative")
    scale = 10**decimals
    quotient, remainder = divmod(rate.numerator * scale, rate.denominator)
    twice = 2 * remainder
    if twice > rate.denominator or (twice == rate.denominator and quotient % 2 == 1):
        quotient += 1
    whole, fraction = divmod(quotient, scale)
    digits = f"{fraction:0{decimals}d}".rstrip("0") if decimals else ""
    return f"{whole}.{digits}" if digits else str(whole)


def is_exact(rate: Fraction, decimals: int = RATE_DECIMALS) -> bool:
    """Whether `format_rate(rate, decimals)` writes `rate` without rounding."""
    return bool((rate.numerator * 10**decimals) % rate.denominator == 0)


def days_between(value_time: int, maturity: int) -> int:
    """Actual days from the UTC date of `value_time` to the UTC date of `maturity` (unix seconds)."""
    return maturity // SECONDS_PER_DAY - value_time // SECONDS_PER_DAY


def _check_face(face: int) -> None:
    if isinstance(face, bool) or not isinstance(face, int) or face <= 0:
        raise PricingError("the face amount must be a positive integer of minor units")


def exact_discount(face: int, rate: Fraction, days: int, basis: Basis) -> Fraction:
    """``face * rate * days / basis``, unrounded."""
    return face * rate * days / basis.year_days


def price_for_rate(face: int, rate: Fraction, days: int, basis: Basis = DEFAULT_BASIS) -> int:
    """The price of `face` minor units due in `days` days at the annual discount `rate`:
    ``face - ceil(face * rate * days / basis)``."""
    _check_face(face)
    if rate < 0:
        raise PricingError("rates are not negative")
    if days < 0:
        raise PricingError("the value date is after maturity")
    exact = exact_discount(face, rate, days, basis)
    discount = -(-exact.numerator // exact.denominator)
    if discount > face:
        raise PricingError(f"at that rate over {days} days the discount exceeds the face amount")
    return face - discount


def rate_for_price(face: int, price: int, days: int, basis: Basis = DEFAULT_BASIS) -> Fraction:
    """The exact annual discount rate at which `face` due in `days` days is worth `price`:
    ``(face - price) * basis / (face * days)``."""
    _check_face(face)
    if isinstance(price, bool) or not isinstance(price, int) or not 0 <= price <= face:
        raise PricingError("the price must be an integer between 0 and the face amount")
    if days < 1:
        raise PricingError("a rate needs at least one day to maturity")
    return Fraction((face - price) * basis.year_days, face * days)


@dataclass(frozen=True)
class Quote:
    """A price and the rate it stands for, on `days` days under `basis`."""

    face: int
    price: int
    rate: Fraction
    days: int
    basis: Basis

    @property
    def discount(self) -> int:
        return self.face - self.price

    @property
    def rate_text(self) -> str:
        return format_rate(self.rate)

    @property
    def rate_exact(self) -> bool:
        return is_exact(self.rate)


def quote_for_rate(face: int, rate: Fraction, days: int, basis: Basis = DEFAULT_BASIS) -> Quote:
    """The price for `rate`, and the exact rate that price implies (at least `rate`: the discount
    is rounded up)."""
    price = price_for_rate(face, rate, days, basis)
    implied = rate_for_price(face, price, days, basis) if days >= 1 else rate
    return Quote(face, price, implied, days, basis)


def quote_for_price(face: int, price: int, days: int, basis: Basis = DEFAULT_BASIS) -> Quote:
    """The exact rate `price` implies."""
    return Quote(face, price, rate_for_price(face, price, days, basis), days, basis)
