"""Day count and rounding of discount prices: worked examples computed by hand, then properties.

The rule (service/api/financing/pricing.py): discount = ceil(face * rate * days / basis),
price = face - discount; the rate for a price is (face - price) * basis / (face * days), written
with at most 12 decimal places, rounded half to even.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.api.financing.pricing import (
    Basis,
    PricingError,
    days_between,
    exact_discount,
    format_rate,
    is_exact,
    parse_basis,
    parse_rate,
    price_for_rate,
    quote_for_price,
    quote_for_rate,
    rate_for_price,
)
from service.domain import MAX_AMOUNT

A360, A365 = Basis.ACT_360, Basis.ACT_365
FACE_MAX = 2**80 - 1  # 1_208_925_819_614_629_174_706_175

# face, rate, days, basis, price
PRICE_FOR_RATE = [
    # 1_000_000 * 0.045 = 45_000; * 90 / 360 = 11_250 exactly -> 988_750
    (1_000_000, "0.045", 90, A360, 988_750),
    # 45_000 * 90 = 4_050_000; / 365 = 11_095.89... -> ceil 11_096 -> 988_904
    (1_000_000, "0.045", 90, A365, 988_904),
    # 3_600_000 * 0.1 = 360_000; * 30 / 360 = 30_000 exactly -> 3_570_000
    (3_600_000, "0.1", 30, A360, 3_570_000),
    # 3_650_000 * 0.02 = 73_000; * 73 / 365 = 14_600 exactly -> 3_635_400
    (3_650_000, "0.02", 73, A365, 3_635_400),
    # one day: 100_000 * 0.05 = 5_000; / 360 = 13.88... -> 14 -> 99_986
    (100_000, "0.05", 1, A360, 99_986),
    # one day: 5_000 / 365 = 13.69... -> 14 -> 99_986
    (100_000, "0.05", 1, A365, 99_986),
    # 999 * 0.0725 = 72.4275; * 45 / 360 = / 8 = 9.0534375 -> 10 -> 989
    (999, "0.0725", 45, A360, 989),
    # 1 * 0.01 / 360 = 0.0000277... -> 1: the whole minor unit goes (seller's disfavour, < 1 unit)
    (1, "0.01", 1, A360, 0),
    # 2^80-1 at 5 % for 360/360 days: face / 20 = 60_446_290_980_731_458_735_308.75 -> ...309
    # -> 1_208_925_819_614_629_174_706_175 - 60_446_290_980_731_458_735_309
    (FACE_MAX, "0.05", 360, A360, 1_148_479_528_633_897_715_970_866),
    # the same on ACT/365 with 365 days: 365 / 365 = 1, the same discount
    (FACE_MAX, "0.05", 365, A365, 1_148_479_528_633_897_715_970_866),
    # rate 0: no discount
    (5_000_000, "0", 180, A360, 5_000_000),
    # 0 days (maturity today): no discount whatever the rate
    (5_000_000, "0.08", 0, A360, 5_000_000),
    # 0.5 * 730 / 365 = 1: the discount is the whole face
    (1_000_000, "0.5", 730, A365, 0),
    # 1_000_000 * 0.999999999999999999 * 365 / 365 = 999_999.999999999999 -> 1_000_000 -> 0
    (1_000_000, "0.999999999999999999", 365, A365, 0),
]

# face, price, days, basis, rate as written, whether exact
RATE_FOR_PRICE = [
    # 11_250 * 360 / (1_000_000 * 90) = 4_050_000 / 90_000_000 = 0.045
    (1_000_000, 988_750, 90, A360, "0.045", True),
    # 11_096 * 365 / 90_000_000 = 4_050_040 / 90_000_000 = 0.04500044444... -> 12 places
    (1_000_000, 988_904, 90, A365, "0.045000444444", False),
    # 10_000 * 360 / 91_000_000 = 0.039560439560|4395... -> next digit 4, down; zeros stripped
    (1_000_000, 990_000, 91, A360, "0.03956043956", False),
    # 14 * 360 / (100_000 * 1) = 5_040 / 100_000 = 0.0504
    (100_000, 99_986, 1, A360, "0.0504", True),
    # price == face: rate 0
    (5_000_000, 5_000_000, 180, A360, "0", True),
    # 1 * 360 / (2e12 * 360) = 0.0000000000005: a tie at the 13th place, to even (0)
    (2 * 10**12, 2 * 10**12 - 1, 360, A360, "0", False),
    # 3 / 2e12 = 0.0000000000015: a tie, 1 is odd -> 2
    (2 * 10**12, 2 * 10**12 - 3, 360, A360, "0.000000000002", False),
    # 60_446_290_980_731_458_735_309 / (2^80-1) = 0.05000000000000000000000020... -> 0.05
    (FACE_MAX, 1_148_479_528_633_897_715_970_866, 360, A360, "0.05", False),
    # a price far below face on a short tenor: (1_000 - 100) * 365 / (1_000 * 30) = 10.95
    (1_000, 100, 30, A365, "10.95", True),
]


@pytest.mark.parametrize(("face", "rate", "days", "basis", "price"), PRICE_FOR_RATE)
def test_price_for_rate_matches_the_worked_example(
    face: int, rate: str, days: int, basis: Basis, price: int
) -> None:
    assert price_for_rate(face, parse_rate(rate), days, basis) == price


@pytest.mark.parametrize(("face", "price", "days", "basis", "rate", "exact"), RATE_FOR_PRICE)
def test_rate_for_price_matches_the_worked_example(
    face: int, price: int, days: int, basis: Basis, rate: str, exact: bool
) -> None:
    value = rate_for_price(face, price, days, basis)
    assert format_rate(value) == rate
    assert is_exact(value) is exact


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0.045", Fraction(45, 1000)),
        ("0", Fraction(0)),
        ("0.5", Fraction(1, 2)),
        ("0.000000000000000001", Fraction(1, 10**18)),
    ],
)
def test_rates_are_decimal_fraction_strings(text: str, value: Fraction) -> None:
    assert parse_rate(text) == value


@pytest.mark.parametrize(
    "text",
    [
        "4.5",
        "1",
        "1.0",
        "4.5%",
        "0.045%",
        "-0.01",
        "1e-2",
        ".05",
        "0.",
        " 0.05",
        "0.0000000000000000001",
        "\u0660.\u0665",  # Arabic-Indic digits
    ],
)
def test_ambiguous_or_malformed_rates_are_refused(text: str) -> None:
    with pytest.raises(PricingError):
        parse_rate(text)


@pytest.mark.parametrize("value", [0.045, 45, None])
def test_rates_that_are_not_strings_are_refused(value: object) -> None:
    with pytest.raises(PricingError):
        parse_rate(value)


def test_basis_defaults_to_act_360_and_accepts_act_365() -> None:
    assert parse_basis(None) is Basis.ACT_360
    assert parse_basis("ACT/365") is Basis.ACT_365
    assert parse_basis("act/360") is Basis.ACT_360
    with pytest.raises(PricingError):
        parse_basis("30/360")


def test_days_count_utc_calendar_dates() -> None:
    # 2026-01-01T23:59:59Z to 2026-01-02T00:00:00Z is one day; within the same date, none
    new_year = 1_767_225_600  # 2026-01-01T00:00:00Z
    assert days_between(new_year + 86_399, new_year + 86_400) == 1
    assert days_between(new_year, new_year + 86_399) == 0
    # 2026-01-01 to 2026-04-01: 31 + 28 + 31 = 90 days
    assert days_between(new_year + 3_600, new_year + 90 * 86_400 + 7_200) == 90


def test_a_discount_beyond_the_face_amount_is_refused() -> None:
    # 0.5 * 731 / 365 > 1
    with pytest.raises(PricingError):
        price_for_rate(1_000_000, Fraction(1, 2), 731, A365)


def test_a_rate_needs_at_least_one_day() -> None:
    with pytest.raises(PricingError):
        rate_for_price(1_000, 990, 0, A360)


@pytest.mark.parametrize(("face", "price"), [(0, 0), (100, 101), (100, -1)])
def test_impossible_prices_are_refused(face: int, price: int) -> None:
    with pytest.raises(PricingError):
        rate_for_price(face, price, 30, A360)


def test_quotes_name_price_discount_and_implied_rate() -> None:
    quote = quote_for_rate(1_000_000, Fraction(45, 1000), 90, A365)
    assert (quote.price, quote.discount, quote.rate_text, quote.rate_exact) == (
        988_904,
        11_096,
        "0.045000444444",
        False,
    )
    assert quote_for_price(1_000_000, 988_750, 90, A360).rate == Fraction(45, 1000)


# ------------------------------------------------------------------ properties
faces = st.integers(min_value=1, max_value=MAX_AMOUNT)
rates = st.integers(min_value=0, max_value=10**18 - 1).map(lambda n: Fraction(n, 10**18))
days = st.integers(min_value=1, max_value=3650)
bases = st.sampled_from(list(Basis))


def _priceable(face: int, rate: Fraction, n: int, basis: Basis) -> bool:
    return exact_discount(face, rate, n, basis) <= face


@given(faces, rates, days, bases)
def test_price_never_exceeds_face_and_rounds_the_discount_up_by_less_than_one(
    face: int, rate: Fraction, n: int, basis: Basis
) -> None:
    if not _priceable(face, rate, n, basis):
        return
    price = price_for_rate(face, rate, n, basis)
    assert 0 <= price <= face
    difference = (face - price) - exact_discount(face, rate, n, basis)
    assert 0 <= difference < 1


@given(faces, rates, days, bases)
def test_rate_to_price_to_rate_gives_the_rate_back_within_one_minor_unit(
    face: int, rate: Fraction, n: int, basis: Basis
) -> None:
    if not _priceable(face, rate, n, basis):
        return
    implied = rate_for_price(face, price_for_rate(face, rate, n, basis), n, basis)
    # the discount was rounded up by less than one minor unit: so is the implied rate's discount
    assert 0 <= implied - rate < Fraction(basis.year_days, face * n)


@given(faces, days, bases, st.data())
def test_price_to_rate_to_price_moves_the_price_by_the_rate_rounding_only(
    face: int, n: int, basis: Basis, data: st.DataObject
) -> None:
    price = data.draw(st.integers(min_value=0, max_value=face))
    written = parse_rate_loose(format_rate(rate_for_price(face, price, n, basis)))
    if not _priceable(face, written, n, basis):
        return
    again = price_for_rate(face, written, n, basis)
    # the written rate is within half a unit of the 12th decimal place of the exact one; on the
    # discount that is at most face * days / basis / 2e12, plus the discount's own rounding
    bound = Fraction(face * n, basis.year_days * 2 * 10**12) + 1
    assert abs(again - price) <= bound
    if face * n < 2 * basis.year_days * 10**12:
        assert again in (price, price - 1)


def parse_rate_loose(text: str) -> Fraction:
    """A written rate back to a fraction (rates >= 1 allowed, unlike `parse_rate`)."""
    whole, _, decimals = text.partition(".")
    return Fraction(int(whole + decimals), 10 ** len(decimals))


@given(rates)
def test_written_rates_read_back_exactly_when_exact(rate: Fraction) -> None:
    text = format_rate(rate)
    assert abs(parse_rate_loose(text) - rate) <= Fraction(1, 2 * 10**12)
    if is_exact(rate):
        assert parse_rate(text) == rate
