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
from service.api.notes.schemas import NoteOut
from service.api.schemas import (
    EXAMPLE_FINANCIER,
    EXAMPLE_OBLIGOR,
    Amount,
    GrantAmount,
    Party,
    StrictModel,
    days_ahead,
    with_example,
)

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

    model_config = with_example(
        lambda: {"rate": "0.045", "basis": "ACT/360", "deadline": days_ahead(7), "off_chain": False}
    )

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

    model_config = with_example(lambda: {"reference": "SWIFT-MT103-7781204"})

    reference: Reference


class SettleIn(StrictModel):
    """Pay a note: `amount` (default: all that remains) in settlement tokens, or, with
    `payment_reference`, claim a payment made off the ledger (the holder confirms it)."""

    model_config = with_example(lambda: {"amount": "100000000"})

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
    financier_name: str | None = Field(description="the financier's name if it is a gateway member")
    holder: str
    holder_member: str | None
    holder_name: str | None = Field(description="the holder's name if it is a gateway member")
    currency: str | None
    face: str | None = Field(description="the note's face amount")
    face_display: str | None = Field(description="the face amount in major units with its currency")
    price: str
    price_display: str | None = Field(description="the price in major units with its currency")
    discount: str | None
    discount_display: str | None = Field(description="the discount in major units with its currency")
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


class CreditLimitSet(StrictModel):
    model_config = with_example(lambda: {"obligor": EXAMPLE_OBLIGOR, "amount": "500000000000"})

    obligor: Party
    amount: GrantAmount


class CreditRelationshipCreate(StrictModel):
    model_config = with_example(lambda: {"financier": EXAMPLE_FINANCIER})

    financier: Party


class CreditLimitOut(BaseModel):
    tx_hash: str
    block_number: int
    financier: str
    obligor: str
    grant: str
    credit_limit: str | None = Field(
        description="the obligor's limit (sum of its approved financiers' grants); null unless the "
        "caller may see the obligor's totals (a grant above 0) and the write is indexed"
    )
    outstanding: str | None = Field(description="the obligor's outstanding face amount; null as credit_limit")


class CreditRelationshipOut(BaseModel):
    financier: str
    financier_member: str | None
    obligor: str
    obligor_member: str | None
    status: Literal["approved", "withdrawn"] = Field(
        description="approved: the financier may grant the obligor credit; withdrawn: the obligor ended it "
        "(the financier's grant was removed)"
    )
    grant: str = Field(description="the financier's grant, minor units (0 once withdrawn)")
    approved_block: int | None = Field(description="block of the obligor's latest approval")
    updated_block: int


class CreditRelationshipList(BaseModel):
    items: list[CreditRelationshipOut]


class CreditRelationshipWrite(BaseModel):
    tx_hash: str
    block_number: int
    indexed: bool
    relationship: CreditRelationshipOut | None = Field(
        description="the relationship as indexed after the write (null if the index has not caught up)"
    )
