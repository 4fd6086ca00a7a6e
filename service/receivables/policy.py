"""A financier's policy for evidence-backed receivables, and the evaluation of a receivable against it.

Each rule passes or fails with the figures it compared (`RuleResult`). The price follows the
discount conventions of `service.api.financing.pricing`: the financier advances
``advance = face * advance_rate_bps // 10_000`` and discounts it at the annual rate of the score's
band over the days to maturity, ``price = advance - ceil(advance * rate * days / basis)`` (ACT/360).
The band is the one with the highest `min_score` not above the score; without one, no price.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Final

from service.api.financing.pricing import DEFAULT_BASIS, Basis, PricingError, days_between, price_for_rate

BPS: Final = 10_000


@dataclass(frozen=True)
class RateBand:
    """Scores from `min_score` up are priced at `annual_rate_bps` (450 = 4.5 % a year)."""

    min_score: int
    annual_rate_bps: int


@dataclass(frozen=True)
class FinancingPolicy:
    """What a financier finances without looking: its minimums, its price and its exposure cap."""

    min_score: int
    min_attesters: int
    four_way_match_required: bool
    advance_rate_bps: int
    rate_bands: tuple[RateBand, ...]
    max_exposure_per_supplier: int
    auto_approve: bool = False
    offer_validity_seconds: int = 86_400


@dataclass(frozen=True)
class Receivable:
    """The facts of a receivable the policy reads."""

    face: int
    maturity: int
    attesters: int
    four_way_complete: bool
    score: int
    exposure: int
    """What the financier already holds of the supplier's evidence-backed notes (live face)."""


@dataclass(frozen=True)
class RuleResult:
    rule: str
    passed: bool
    required: str
    actual: str


@dataclass(frozen=True)
class Evaluation:
    rules: tuple[RuleResult, ...]
    band: RateBand | None
    days: int
    advance: int
    price: int | None
    """None when no band applies or the receivable cannot be priced."""

    @property
    def approved(self) -> bool:
        return self.price is not None and all(r.passed for r in self.rules)

    @property
    def failed(self) -> tuple[str, ...]:
        return tuple(r.rule for r in self.rules if not r.passed)


def band_for(policy: FinancingPolicy, score: int) -> RateBand | None:
    """The band of the highest `min_score` at or below `score`."""
    eligible = [b for b in policy.rate_bands if b.min_score <= score]
    return max(eligible, key=lambda b: b.min_score) if eligible else None


def evaluate(
    policy: FinancingPolicy, receivable: Receivable, now: int, basis: Basis = DEFAULT_BASIS
) -> Evaluation:
    """Every rule of `policy` on `receivable` at `now` (unix seconds), and the price if one applies."""
    r = receivable
    band = band_for(policy, r.score)
    days = days_between(now, r.maturity)
    after = r.exposure + r.face
    rules = (
        RuleResult("min_score", r.score >= policy.min_score, str(policy.min_score), str(r.score)),
        RuleResult(
            "min_attesters", r.attesters >= policy.min_attesters, str(policy.min_attesters), str(r.attesters)
        ),
        RuleResult(
            "four_way_match",
            r.four_way_complete or not policy.four_way_match_required,
            "required" if policy.four_way_match_required else "not required",
            "complete" if r.four_way_complete else "incomplete",
        ),
        RuleResult(
            "max_exposure_per_supplier",
            after <= policy.max_exposure_per_supplier,
            str(policy.max_exposure_per_supplier),
            str(after),
        ),
        RuleResult(
            "rate_band",
            band is not None,
            f"a band at or below {r.score}",
            "none" if band is None else f"from {band.min_score}: {band.annual_rate_bps} bps",
        ),
        RuleResult("maturity", days >= 1 and now < r.maturity, "at least 1 day to maturity", f"{days} days"),
    )
    advance = r.face * policy.advance_rate_bps // BPS
    price: int | None = None
    if band is not None and days >= 1 and advance > 0:
        try:
            price = price_for_rate(advance, Fraction(band.annual_rate_bps, BPS), days, basis)
        except PricingError:
            price = None
        if price is not None and price <= 0:
            price = None
    return Evaluation(rules, band, days, advance, price)
