"""Pydantic models of the financing endpoints: discount offers, settlement, quotes and risk views.

As everywhere in the API, amounts come in as JSON integers or decimal strings of minor units and go
out as strings; rates are decimal-fraction strings (``"0.045"`` is 4.5 % a year, see
`service.api.financing.pricing`), never JSON numbers. References (of off-chain payments and
write-off decisions) are text of at most 32 bytes of UTF-8, or ``0x`` and 64 hex digits for raw
bytes32.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator

from service.api.financing.pricing import Basis
from service.api.schemas import Amount, NoteOut, StrictModel

_RAW_REFERENCE = re.compile(r"0x[0-9a-fA-F]{64}")


def reference_to_bytes(reference: str) -> bytes:
    """The bytes32 a reference stands for: ``0x`` + 64 hex digits as is, else UTF-8 text padded
    with zeros on the right."""
    if _RAW_REFERENCE.fullmatch(reference):
        return bytes.fromhex(reference[2:])
    return reference.encode("utf-8").ljust(32, b"\0")


def reference_text(raw_hex: str | None) -> str | None:
    """A stored bytes32 (0x-hex) as the text it was made from, when it is UTF-8 text padded with
    zeros; else the hex itself."""
    if raw_hex is None:
        return None
    raw = bytes.fromhex(raw_hex[2:] if raw_hex.startswith("0x") else raw_hex)
    stripped = raw.rstrip(b"\0")
    try:
        text = stripped.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + raw.hex()
    if not text or not text.isprintable() or "\0" in text:
        return "0x" + raw.hex()
    return text


def _check_reference(value: str) -> str:
    if not _RAW_REFERENCE.fullmatch(value) and len(value.encode("utf-8")) > 32:
        raise ValueError("a reference is at most 32 bytes of UTF-8 (or 0x and 64 hex digits)")
    return value


Reference = Annotated[
    str,
    Field(min_length=1, max_length=66, description="payment or decision reference: text of at most 32 bytes"),
    AfterValidator(_check_reference),
]
BasisName = Literal["ACT/360", "ACT/365"]


def _unix(moment: datetime) -> int:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


# ------------------------------------------------------------------ requests
class DiscountOfferIn(StrictModel):
    """An offer to buy a note: a `price` in minor units, or an annual discount `rate` converted to
    a price under `basis` from today's UTC date to the maturity date (discount rounded up)."""

    price: Amount | None = None
    rate: str | None = Field(
        default=None, description='annual simple discount rate as a decimal fraction: "0.045" is 4.5 %'
    )
    basis: BasisName = Basis.ACT_360.value
    deadline: datetime = Field(description="ISO 8601 UTC; after now and before the note's maturity")
    off_chain: bool = Field(
        default=False, description="the price is paid outside the ledger (recorded by reference)"
    )

    @model_validator(mode="after")
    def _price_or_rate(self) -> DiscountOfferIn:
        if (self.price is None) == (self.rate is None):
            raise ValueError("give exactly one of price and rate")
        return self

    def deadline_unix(self) -> int:
        return _unix(self.deadline)


class OfferPaymentIn(StrictModel):
    """The reference of the off-chain payment of an offer's price to the holder."""

    reference: Reference


class SettleIn(StrictModel):
    """Pay a note: `amount` (default: all that remains) in settlement tokens, or, with
    `payment_reference`, claim a payment made off the ledger (the holder confirms it)."""

    amount: Amount | None = None
    payment_reference: Reference | None = None


class ConfirmPaymentIn(StrictModel):
    """Confirm the obligor's pending claim; `amount` and `payment_reference`, if given, must match
    it."""

    amount: Amount | None = None
    payment_reference: Reference | None = None


class WriteOffIn(StrictModel):
    reference: Reference


# ------------------------------------------------------------------ responses
OfferStatus = Literal["open", "accepted", "cancelled", "void", "expired"]


class OfferOut(BaseModel):
    id: str
    note_id: str
    root_id: str
    financier: str
    financier_member: str | None
    holder: str
    holder_member: str | None
    currency: str | None
    face: str | None = Field(description="the note's face amount")
    price: str
    discount: str | None
    basis: BasisName
    value_date: date | None = Field(description="UTC date of the offer: the rate's day count starts here")
    days: int | None
    rate: str | None = Field(description="the annual discount rate the price implies (12 places, half even)")
    rate_exact: bool | None
    deadline: datetime
    off_chain: bool
    status: OfferStatus
    payment_reference: str | None
    payment_reference_hex: str | None
    created_tx: str
    created_block: int
    closed_tx: str | None
    closed_block: int | None


class OfferPage(BaseModel):
    items: list[OfferOut]
    next_cursor: str | None


class OfferWrite(BaseModel):
    tx_hash: str
    block_number: int
    indexed: bool
    offer: OfferOut
    notes: list[NoteOut]


class PaymentOut(BaseModel):
    note_id: str
    holder: str
    amount: str
    remaining: str
    payment_reference: str | None


class SettlementWrite(BaseModel):
    """A payment, a claim or a confirmation on one note."""

    tx_hash: str
    block_number: int
    indexed: bool
    action: Literal["paid", "claimed", "confirmed", "claim_withdrawn", "marked_overdue", "written_off"]
    amount: str | None
    remaining: str | None
    payment_reference: str | None
    payments: list[PaymentOut]
    note_ids: list[str]
    notes: list[NoteOut]


class BatchOut(BaseModel):
    tx_hash: str
    block_number: int
    first_index: int
    count: int
    notes_paid: int
    total_paid: str


class RootSettlementWrite(BaseModel):
    root_id: str
    tx_hashes: list[str]
    batches: list[BatchOut]
    notes_paid: int
    total_paid: str
    indexed: bool
    payments: list[PaymentOut]
    notes: list[NoteOut]


class SettlementJobOut(BaseModel):
    """A root settlement run in the background, batch by batch (`POST /v1/roots/{id}/settle`)."""

    id: str
    root_id: str
    currency: str
    status: Literal["queued", "running", "done", "failed"]
    batches_done: int
    batches_total: int
    """Batches sent so far plus those still planned (the plan is revised after each batch)."""
    notes_total: int
    amount_total: str
    """What the tree's payable notes came to when the job was created (minor units)."""
    notes_paid: int
    amount_paid: str
    tx_hashes: list[str]
    error: dict[str, Any] | None
    """The problem+json that failed the job, or the last transient failure while it retries."""
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class SettlementJobList(BaseModel):
    items: list[SettlementJobOut]


class QuoteOut(BaseModel):
    note_id: str
    currency: str
    face: str
    maturity: datetime
    value_date: date
    days: int
    basis: BasisName
    given: Literal["rate", "price"]
    price: str
    discount: str
    rate: str
    rate_exact: bool


class ExposureRow(BaseModel):
    obligor: str
    obligor_member: str | None
    credit_limit: str
    grant: str | None = Field(description="the calling financier's own grant (None for others)")
    outstanding: str = Field(description="the ledger's outstanding amount of the obligor")
    headroom: str = Field(description="credit limit minus outstanding (negative when over)")
    live_notes: int
    live_amount: str = Field(description="unpaid remainder of live notes")
    overdue_notes: int
    overdue_amount: str


class LadderRow(BaseModel):
    week: str = Field(description="ISO week of maturity, e.g. 2026-W18")
    week_start: date
    currency: str
    notes: int
    amount: str = Field(description="unpaid remainder due that week")
    overdue_amount: str


class ConcentrationRow(BaseModel):
    currency: str
    holder: str
    holder_member: str | None
    notes: int
    amount: str
    share_bps: int = Field(description="share of the currency's total, in basis points (rounded down)")


class OverdueRow(BaseModel):
    note_id: str
    root_id: str
    obligor: str
    obligor_member: str | None
    holder: str
    holder_member: str | None
    currency: str
    amount: str
    paid_amount: str
    remaining: str
    maturity: datetime
    overdue_since: datetime
    days_overdue: int
    marked: bool
    frozen: bool


class RiskMeta(BaseModel):
    as_of: datetime
    grace_period_seconds: int
    scope: Literal["all", "granted"]


class ExposureOut(RiskMeta):
    items: list[ExposureRow]


class LadderOut(RiskMeta):
    items: list[LadderRow]


class ConcentrationOut(RiskMeta):
    items: list[ConcentrationRow]


class OverdueOut(RiskMeta):
    items: list[OverdueRow]
