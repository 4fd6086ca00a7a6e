"""Pydantic models at the edge of the API. Amounts come in as JSON integers or decimal strings of
minor units and always go out as strings; note ids go out as strings (they exceed 2**53)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from service.api.params import Bytes32Text, Currency
from service.domain import MAX_AMOUNT, MAX_SPLIT_PARTS

_AMOUNT_SCHEMA = {
    "oneOf": [
        {"type": "string", "pattern": "^[0-9]{1,25}$"},
        {"type": "integer", "minimum": 1, "maximum": MAX_AMOUNT},
    ],
    "description": "minor units, a positive integer up to 2**80-1, as a JSON integer or decimal string",
}


def _parse_amount(value: Any, *, allow_zero: bool) -> int:
    result: int
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("amount must be an integer or a string of decimal digits (minor units), not a float")
    if isinstance(value, str):
        if not value.isascii() or not value.isdigit() or len(value) > 30:
            raise ValueError("amount must be a string of decimal digits (minor units)")
        result = int(value)
    else:
        result = value
    value = result
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError("amount must be positive" if not allow_zero else "amount must not be negative")
    if value > MAX_AMOUNT:
        raise ValueError(f"amount must not exceed {MAX_AMOUNT} (2**80-1)")
    return result


Amount = Annotated[
    int,
    BeforeValidator(lambda v: _parse_amount(v, allow_zero=False)),
    WithJsonSchema(_AMOUNT_SCHEMA),
]
GrantAmount = Annotated[
    int,
    BeforeValidator(lambda v: _parse_amount(v, allow_zero=True)),
    WithJsonSchema({**_AMOUNT_SCHEMA, "description": "minor units, zero withdraws the grant"}),
]
Party = Annotated[str, Field(min_length=1, max_length=64, description="member id or 0x address")]
DocumentHash = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{64}$")]
RoleName = Literal["core_enterprise", "supplier", "financier", "auditor"]
"""`service.domain.ONBOARDABLE_ROLES` spelled out for the OpenAPI schema (tests/test_domain.py checks
they agree)."""


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ------------------------------------------------------------------ requests
class MemberCreate(StrictModel):
    name: str = Field(min_length=1, max_length=200)
    roles: list[RoleName] = Field(min_length=1)
    address: str | None = Field(default=None, pattern=r"^0x[0-9a-fA-F]{40}$")


class CreditLimitSet(StrictModel):
    obligor: Party
    amount: GrantAmount


class CreditRelationshipCreate(StrictModel):
    financier: Party


class NoteIssue(StrictModel):
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
    to: Party


class SplitPartIn(StrictModel):
    to: Party
    amount: Amount


class NoteSplitIn(StrictModel):
    parts: list[SplitPartIn] = Field(min_length=2, max_length=MAX_SPLIT_PARTS)


class NoteFreeze(StrictModel):
    reason: Bytes32Text = ""


class Empty(StrictModel):
    """Actions without a body accept an empty JSON object (or no body)."""


# ------------------------------------------------------------------ responses
class MemberOut(BaseModel):
    id: str
    name: str
    address: str
    roles: list[str]
    custody: Literal["custodial", "self"]
    status: str
    created_at: datetime


class MemberCreated(MemberOut):
    api_key: str | None = Field(
        description="the member's API key, in the first answer only (null when an Idempotency-Key "
        "replays it: see api_key_note)"
    )
    api_key_note: str | None = None
    tx_hash: str | None


class MemberList(BaseModel):
    items: list[MemberOut]


class MemberStatusChanged(BaseModel):
    tx_hash: str
    block_number: int
    member: MemberOut


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


class NoteOut(BaseModel):
    id: str
    root_id: str
    parent_id: str | None
    depth: int
    holder: str
    holder_member: str | None
    obligor: str
    obligor_member: str | None
    amount: str
    currency: str
    maturity: datetime
    document_hash: str
    status: str
    frozen: bool
    reference: str | None
    created_tx: str
    created_block: int
    paid_amount: str = Field(default="0", description="paid so far (the amount once settled)")
    remaining: str = Field(default="0", description="left to pay while live (0 otherwise)")
    payment_status: Literal["unpaid", "partially_paid", "paid", "written_off"] | None = Field(
        default=None, description="None for split, rejected and revoked notes"
    )
    overdue: bool = Field(
        default=False, description="active or marked overdue, unpaid at maturity plus the grace period"
    )


class NotePage(BaseModel):
    items: list[NoteOut]
    next_cursor: str | None


class WriteResult(BaseModel):
    tx_hash: str
    block_number: int
    indexed: bool
    note_ids: list[str]
    notes: list[NoteOut]


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
    previous_holder: str | None
    amount: str
    tx_hash: str
    block_number: int
    block_time: datetime


class StatusTotalOut(BaseModel):
    status: str
    notes: int
    amount: str = Field(description="face amounts of the notes in this status")
    paid_amount: str
    written_off_amount: str


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


class Health(BaseModel):
    status: str
    checks: dict[str, Any] = Field(default_factory=dict)
