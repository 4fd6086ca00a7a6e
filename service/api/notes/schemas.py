"""Notes' request and answer models: issue, transfer, split, freeze; notes, pages, events and
provenance trees."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from service.api.params import Bytes32Text, Currency
from service.api.schemas import (
    EXAMPLE_DOCUMENT_HASH,
    EXAMPLE_SUPPLIER,
    EXAMPLE_SUPPLIER_2,
    Amount,
    Party,
    StrictModel,
    days_ahead,
    with_example,
)
from service.domain import MAX_SPLIT_PARTS

DocumentHash = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{64}$")]


class NoteIssue(StrictModel):
    model_config = with_example(
        lambda: {
            "to": EXAMPLE_SUPPLIER,
            "amount": "100000000",
            "currency": "USD",
            "maturity": days_ahead(180),
            "document_hash": EXAMPLE_DOCUMENT_HASH,
            "reference": "INV-2025-0042",
        }
    )

    to: Party
    amount: Amount
    currency: Currency
    maturity: datetime
    document_hash: DocumentHash
    reference: str | None = Field(default=None, max_length=1000)

    def maturity_unix(self) -> int:
        maturity = self.maturity if self.maturity.tzinfo else self.maturity.replace(tzinfo=UTC)
        return int(maturity.timestamp())


class NoteTransfer(StrictModel):
    model_config = with_example(lambda: {"to": EXAMPLE_SUPPLIER_2})

    to: Party


class SplitPartIn(StrictModel):
    to: Party
    amount: Amount


class NoteSplitIn(StrictModel):
    model_config = with_example(
        lambda: {
            "parts": [
                {"to": EXAMPLE_SUPPLIER, "amount": "60000000"},
                {"to": EXAMPLE_SUPPLIER_2, "amount": "40000000"},
            ]
        }
    )

    parts: list[SplitPartIn] = Field(min_length=2, max_length=MAX_SPLIT_PARTS)


class NoteFreeze(StrictModel):
    model_config = with_example(lambda: {"reason": "court order 2025-117"})

    reason: Bytes32Text = ""


class NoteOut(BaseModel):
    id: str
    root_id: str
    parent_id: str | None
    depth: int
    holder: str
    holder_member: str | None
    holder_name: str | None = Field(description="the holder's name if it is a gateway member")
    obligor: str
    obligor_member: str | None
    obligor_name: str | None = Field(description="the obligor's name if it is a gateway member")
    amount: str
    amount_display: str = Field(
        description="the amount in major units with its currency, e.g. USD 1,000,000.00"
    )
    currency: str
    maturity: datetime
    document_hash: str
    status: str
    frozen: bool
    reference: str | None
    created_tx: str
    created_block: int
    paid_amount: str = Field(default="0", description="paid so far (the amount once settled)")
    paid_amount_display: str = Field(description="`paid_amount` in major units with the currency")
    remaining: str = Field(default="0", description="left to pay while live (0 otherwise)")
    remaining_display: str = Field(description="`remaining` in major units with the currency")
    payment_status: Literal["unpaid", "partially_paid", "paid", "written_off"] | None = Field(
        default=None, description="None for split, rejected and revoked notes"
    )
    overdue: bool = Field(
        default=False, description="active or marked overdue, unpaid at maturity plus the grace period"
    )


class NotePage(BaseModel):
    items: list[NoteOut]
    next_cursor: str | None


class EventOut(BaseModel):
    name: str
    note_id: str | None
    tx_hash: str
    block_number: int
    block_time: datetime
    log_index: int
    args: dict[str, Any]


class TreeNodeOut(NoteOut):
    events: list[EventOut]


class HolderStepOut(BaseModel):
    note_id: str
    depth: int
    event: str
    holder: str
    holder_name: str | None = Field(description="the holder's name if it is a gateway member")
    previous_holder: str | None
    previous_holder_name: str | None = Field(description="the previous holder's name if a gateway member")
    amount: str
    amount_display: str = Field(description="the amount in major units with its currency")
    tx_hash: str
    block_number: int
    block_time: datetime


class StatusTotalOut(BaseModel):
    status: str
    notes: int
    amount: str = Field(description="face amounts of the notes in this status")
    paid_amount: str
    written_off_amount: str
    amount_display: str = Field(description="`amount` in major units with the tree's currency")
    paid_amount_display: str
    written_off_amount_display: str


class TreeSummaryOut(BaseModel):
    notes: int = Field(description="notes in the whole tree, the root included")
    by_status: list[StatusTotalOut] = Field(description="the tree's notes by status, in status order")


class ProvenanceOut(BaseModel):
    note_id: str
    root_id: str
    ancestors: list[NoteOut]
    holder_path: list[HolderStepOut]
    summary: TreeSummaryOut = Field(description="the whole tree, whichever page `tree` is")
    tree: list[TreeNodeOut] = Field(
        description="one page of the root's tree in id order (the whole tree unless next_cursor is set); "
        "discount offers' events only those the caller may see"
    )
    next_cursor: str | None = Field(default=None, description="pass as `cursor` for the next page of `tree`")


class WriteResult(BaseModel):
    tx_hash: str
    block_number: int
    indexed: bool
    note_ids: list[str]
    notes: list[NoteOut]
