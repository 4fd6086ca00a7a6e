"""Request and answer models of the receivables API. Amounts go out as strings of minor units;
rates and ratios are integers of basis points (800 = 8 % a year)."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, Field, model_validator

from service.api.notes.schemas import DocumentHash
from service.api.schemas import Amount, GrantAmount, StrictModel
from service.receivables.policy import FinancingPolicy, RateBand

BPS_FIELD = Field(ge=0, le=10_000)


class RateBandIn(StrictModel):
    min_score: int = Field(ge=0, le=1_000, description="scores from this one up take this rate")
    annual_rate_bps: int = Field(ge=0, le=9_999, description="annual discount rate, bps: 800 = 8 %")


class ReceivablePolicyIn(StrictModel):
    """A financier's whole policy for evidence-backed receivables (PUT replaces it)."""

    min_score: int = Field(ge=0, le=1_000)
    min_attesters: int = Field(ge=0, le=255, description="independent attesters of the invoice")
    four_way_match_required: bool = Field(description="order, delivery, acceptance and invoice, attested")
    advance_rate_bps: int = Field(ge=1, le=10_000, description="share of the face advanced, bps")
    rate_bands: list[RateBandIn] = Field(min_length=1, max_length=20)
    max_exposure_per_supplier: GrantAmount = Field(
        description="most face of one supplier's receivables held at once, minor units"
    )
    auto_approve: bool = Field(
        default=False, description="offer at once on a receivable that meets the policy"
    )
    offer_validity_seconds: int = Field(default=86_400, ge=60, le=30 * 86_400)

    @model_validator(mode="after")
    def _distinct_bands(self) -> ReceivablePolicyIn:
        scores = [b.min_score for b in self.rate_bands]
        if len(set(scores)) != len(scores):
            raise ValueError("two rate bands start at the same score")
        return self

    def to_policy(self) -> FinancingPolicy:
        return FinancingPolicy(
            min_score=self.min_score,
            min_attesters=self.min_attesters,
            four_way_match_required=self.four_way_match_required,
            advance_rate_bps=self.advance_rate_bps,
            rate_bands=tuple(RateBand(b.min_score, b.annual_rate_bps) for b in self.rate_bands),
            max_exposure_per_supplier=self.max_exposure_per_supplier,
            auto_approve=self.auto_approve,
            offer_validity_seconds=self.offer_validity_seconds,
        )


class RateBandOut(BaseModel):
    min_score: int
    annual_rate_bps: int


class ReceivablePolicyOut(BaseModel):
    financier: str
    min_score: int
    min_attesters: int
    four_way_match_required: bool
    advance_rate_bps: int
    rate_bands: list[RateBandOut]
    max_exposure_per_supplier: str
    auto_approve: bool
    offer_validity_seconds: int
    updated_at: datetime

    @classmethod
    def of(cls, financier: str, policy: FinancingPolicy, updated_at: datetime) -> ReceivablePolicyOut:
        return cls(
            financier=financier,
            min_score=policy.min_score,
            min_attesters=policy.min_attesters,
            four_way_match_required=policy.four_way_match_required,
            advance_rate_bps=policy.advance_rate_bps,
            rate_bands=[
                RateBandOut(min_score=b.min_score, annual_rate_bps=b.annual_rate_bps)
                for b in policy.rate_bands
            ],
            max_exposure_per_supplier=str(policy.max_exposure_per_supplier),
            auto_approve=policy.auto_approve,
            offer_validity_seconds=policy.offer_validity_seconds,
            updated_at=updated_at,
        )


class FactorOut(BaseModel):
    name: str
    value: str
    weight: int
    fraction_bps: int = Field(description="share of the weight earned, bps")
    contribution: int = Field(description="points: weight * fraction, rounded down")


class CreditScoreOut(BaseModel):
    member_id: str
    address: str
    score: int = Field(description="0..1000, the sum of the contributions")
    factors: list[FactorOut]
    computed_at: datetime


class RuleOut(BaseModel):
    rule: str
    passed: bool
    required: str
    actual: str


class FinancingQuoteOut(BaseModel):
    note_id: str
    financier: str
    approved: bool = Field(description="every rule passes and a price applies")
    rules: list[RuleOut]
    score: int
    face: str
    advance: str
    annual_rate_bps: int | None
    days: int
    basis: str
    price: str | None
    offer_id: str | None = Field(default=None, description="the offer auto-approval made, if any")


class ReceivableIn(StrictModel):
    """Originate a receivable on an attested invoice: the supplier owes the holder at maturity
    (financing with recourse to the seller); the buyer's credit line is not used."""

    invoice_hash: DocumentHash
    supporting: list[DocumentHash] = Field(default_factory=list, max_length=8)
    amount: Amount = Field(description="face, minor units: at most the invoice's amount")
    maturity: datetime

    def maturity_unix(self) -> int:
        moment = self.maturity if self.maturity.tzinfo else self.maturity.replace(tzinfo=UTC)
        return int(moment.timestamp())


class AutoOfferOut(BaseModel):
    financier: str
    status: str = Field(
        description="offered, declined (a rule failed), failed (the offer was refused), pending"
    )
    offer_id: str | None
    price: str | None
    reason: str | None


class ReceivableOut(BaseModel):
    note_id: str
    supplier: str
    supplier_member: str | None
    buyer: str
    buyer_member: str | None
    invoice_hash: str
    supporting: list[str]
    attesters_at_origination: int
    live_attesters: int = Field(description="live attestations of the invoice now")
    four_way_match: bool = Field(description="an attested order, delivery, acceptance and invoice")
    amount: str
    currency: str
    maturity: datetime
    status: str
    holder: str
    obligor: str = Field(description="the supplier until converted, then the buyer")
    originated_at: datetime
    converted_at: datetime | None
    auto_offers: list[AutoOfferOut] = Field(description="auto-approval's decisions the caller may see")


class ReceivablePage(BaseModel):
    items: list[ReceivableOut]
    next_cursor: str | None


class ReceivableWrite(BaseModel):
    tx_hash: str
    block_number: int
    indexed: bool
    receivable: ReceivableOut | None
