"""Pydantic models at the edge of the API. Amounts come in as JSON integers or decimal strings of
minor units and always go out as strings; note ids go out as strings (they exceed 2**53)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

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


class NoteIssue(StrictModel):
    to: Party
    amount: Amount
    currency: str = Field(pattern=r"^[A-Z]{3}$")
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
    reason: str = Field(default="", max_length=32)


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
    credit_limit: str | None
    outstanding: str | None


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


class ProvenanceOut(BaseModel):
    note_id: str
    root_id: str
    ancestors: list[NoteOut]
    tree: list[TreeNodeOut]
    holder_path: list[HolderStepOut]


class Health(BaseModel):
    status: str
    checks: dict[str, Any] = Field(default_factory=dict)
