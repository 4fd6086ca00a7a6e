"""A financier's policy on evidence-backed receivables (service/receivables/policy.py): each rule
passes or fails with its figures, and the price is the advance discounted at the band's rate
(ACT/360, discount rounded up), computed by hand below."""

from __future__ import annotations

from dataclasses import replace

from service.receivables.policy import FinancingPolicy, RateBand, Receivable, band_for, evaluate

DAY = 86_400
NOW = 1_800_000_000 - 1_800_000_000 % DAY + 3_600  # 01:00 UTC
POLICY = FinancingPolicy(
    min_score=500,
    min_attesters=2,
    four_way_match_required=True,
    advance_rate_bps=9_000,
    rate_bands=(RateBand(500, 800), RateBand(700, 600), RateBand(850, 450)),
    max_exposure_per_supplier=50_000_000,
    auto_approve=True,
)
GOOD = Receivable(
    face=10_000_000,
    maturity=NOW + 90 * DAY,
    attesters=3,
    four_way_complete=True,
    score=526,
    exposure=0,
)


def _rule(receivable: Receivable, name: str) -> tuple[bool, str, str]:
    found = next(r for r in evaluate(POLICY, receivable, NOW).rules if r.rule == name)
    return found.passed, found.required, found.actual


def test_receivable_meeting_every_rule_is_approved_at_the_band_price() -> None:
    result = evaluate(POLICY, GOOD, NOW)
    # advance 10,000,000 * 90 % = 9,000,000; band 500 -> 8 %; 9,000,000 * 0.08 * 90 / 360 = 180,000
    assert result.approved
    assert result.failed == ()
    assert result.band == RateBand(500, 800)
    assert (result.days, result.advance, result.price) == (90, 9_000_000, 8_820_000)


def test_discount_is_rounded_up_against_the_seller() -> None:
    # advance 9,000; 9,000 * 0.06 * 91 / 360 = 136.5 -> 137; score 700 takes the 6 % band
    result = evaluate(POLICY, replace(GOOD, face=10_000, score=700, maturity=NOW + 91 * DAY), NOW)
    assert result.price == 9_000 - 137


def test_score_below_minimum_fails_with_both_figures() -> None:
    assert _rule(replace(GOOD, score=347), "min_score") == (False, "500", "347")


def test_score_below_every_band_has_no_price() -> None:
    result = evaluate(POLICY, replace(GOOD, score=347), NOW)
    assert result.band is None and result.price is None and not result.approved
    assert result.failed == ("min_score", "rate_band")


def test_too_few_attesters_fails() -> None:
    assert _rule(replace(GOOD, attesters=1), "min_attesters") == (False, "2", "1")


def test_incomplete_four_way_match_fails_when_required() -> None:
    assert _rule(replace(GOOD, four_way_complete=False), "four_way_match") == (
        False,
        "required",
        "incomplete",
    )


def test_incomplete_four_way_match_passes_when_not_required() -> None:
    relaxed = replace(POLICY, four_way_match_required=False)
    result = evaluate(relaxed, replace(GOOD, four_way_complete=False), NOW)
    assert result.approved


def test_exposure_after_financing_above_the_cap_fails() -> None:
    assert _rule(replace(GOOD, exposure=40_000_001), "max_exposure_per_supplier") == (
        False,
        "50000000",
        "50000001",
    )


def test_exposure_exactly_at_the_cap_passes() -> None:
    assert _rule(replace(GOOD, exposure=40_000_000), "max_exposure_per_supplier")[0]


def test_matured_receivable_fails_and_has_no_price() -> None:
    result = evaluate(POLICY, replace(GOOD, maturity=NOW - 1), NOW)
    assert result.failed == ("maturity",) and result.price is None


def test_band_is_the_highest_at_or_below_the_score() -> None:
    assert band_for(POLICY, 849) == RateBand(700, 600)
    assert band_for(POLICY, 850) == RateBand(850, 450)
    assert band_for(POLICY, 499) is None
