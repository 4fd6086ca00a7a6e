"""Display amounts: major units with the currency's ISO 4217 decimals, exact integer arithmetic."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.api.display import display_amount, minor_unit_exponent, parse_display_amount
from service.api.notes.provenance import currency_code, readable_args
from service.api.params import iso_4217_codes


def test_usd_amount_has_two_decimals_and_thousands_separators() -> None:
    assert display_amount(100_000_000, "USD") == "USD 1,000,000.00"


def test_jpy_amount_has_no_decimals() -> None:
    assert display_amount(1_234_567, "JPY") == "JPY 1,234,567"


def test_bhd_amount_has_three_decimals() -> None:
    assert display_amount(1, "BHD") == "BHD 0.001"


def test_negative_amount_keeps_its_sign_before_the_digits() -> None:
    assert display_amount(-123_456_789, "USD") == "USD -1,234,567.89"


def test_amount_given_as_string_of_minor_units() -> None:
    assert display_amount("5", "EUR") == "EUR 0.05"


def test_code_without_minor_unit_shows_whole_units() -> None:
    assert minor_unit_exponent("XAU") == 0
    assert display_amount(1_000, "XAU") == "XAU 1,000"


def test_amount_beyond_float_precision_is_exact() -> None:
    assert display_amount(2**63 - 1, "USD") == "USD 92,233,720,368,547,758.07"


@given(
    amount=st.integers(min_value=-(2**256), max_value=2**256),
    currency=st.sampled_from(sorted(iso_4217_codes())),
)
def test_display_string_parses_back_to_the_amount(amount: int, currency: str) -> None:
    assert parse_display_amount(display_amount(amount, currency)) == (amount, currency)


def test_parse_rejects_wrong_number_of_decimals() -> None:
    with pytest.raises(ValueError, match="2 decimals"):
        parse_display_amount("USD 1.5")


def test_event_currency_bytes3_reads_as_its_code() -> None:
    assert currency_code("0x555344") == "USD"


def test_event_currency_that_spells_no_code_stays_raw() -> None:
    assert currency_code("0x000102") == "0x000102"


def test_event_times_read_as_utc_datetimes() -> None:
    args = readable_args({"maturity": 1_767_225_600, "deadline": 0, "amount": "5"})
    assert args["maturity"].isoformat() == "2026-01-01T00:00:00+00:00"
    assert args["deadline"].isoformat() == "1970-01-01T00:00:00+00:00"
    assert args["amount"] == "5"


def test_unknown_currency_code_shows_whole_units() -> None:
    assert minor_unit_exponent("QQQ") == 0
