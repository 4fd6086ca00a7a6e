"""Amounts typed and shown in the console: major units with the currency, converted exactly."""

from __future__ import annotations

import pytest

from service.console.money import AmountError, format_amount, parse_amount
from service.console.offers.routes import percent_to_rate
from service.domain import MAX_AMOUNT


def test_usd_is_shown_with_its_code_and_two_decimals() -> None:
    assert format_amount(100_000_000, "USD") == "USD 1,000,000.00"


def test_cny_is_shown_with_its_code_and_symbol() -> None:
    assert format_amount("100000000", "CNY") == "CNY ¥1,000,000.00"


def test_jpy_has_no_decimals() -> None:
    assert format_amount(1_000_000, "JPY") == "JPY ¥1,000,000"


@pytest.mark.parametrize(
    ("typed", "currency", "minor"),
    [
        ("1,000,000.00", "USD", 100_000_000),
        ("1000000", "USD", 100_000_000),
        ("USD 0.01", "USD", 1),
        ("¥12.3", "CNY", 1230),
        ("CNY ¥ 1,234.56", "CNY", 123_456),
        ("12345678901234567890.99", "USD", 1_234_567_890_123_456_789_099),
        ("1.005", "BHD", 1005),
    ],
)
def test_a_typed_amount_becomes_exact_minor_units(typed: str, currency: str, minor: int) -> None:
    assert parse_amount(typed, currency) == minor


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("", "amount_required"),
        ("12.345", "amount_too_many_decimals"),
        ("1,00.00", "amount_invalid"),
        ("1e3", "amount_invalid"),
        ("-5", "amount_invalid"),
        ("0.00", "amount_not_positive"),
        ("0x10", "amount_invalid"),
        ("12,089,258,196,146,291,747,061.76", "amount_too_large"),  # 2**80 minor units
        ("9" * 5_000, "amount_too_large"),  # refused before any conversion of its digits
    ],
)
def test_a_typed_non_amount_names_its_message(typed: str, key: str) -> None:
    with pytest.raises(AmountError) as refused:
        parse_amount(typed, "USD")
    assert refused.value.key == key


def test_zero_is_an_amount_where_allowed() -> None:
    assert parse_amount("0", "USD", allow_zero=True) == 0


def test_a_shown_amount_reads_back_as_itself() -> None:
    for minor in (1, 99, 100, 123_456_789, MAX_AMOUNT):
        assert parse_amount(format_amount(minor, "CNY"), "CNY") == minor


@pytest.mark.parametrize(
    ("percent", "rate"), [("4.5", "0.045"), ("4.5 %", "0.045"), ("12", "0.12"), ("0.125", "0.00125")]
)
def test_a_rate_in_percent_is_the_apis_decimal_fraction(percent: str, rate: str) -> None:
    assert percent_to_rate(percent) == rate


def test_a_rate_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(ValueError):
        percent_to_rate("four")


def test_the_ledgers_largest_amount_is_read_exactly() -> None:
    assert parse_amount("12,089,258,196,146,291,747,061.75", "USD") == MAX_AMOUNT
