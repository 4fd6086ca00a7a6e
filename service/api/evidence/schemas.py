"""Request and answer models of the evidence API (hashes only: documents never reach the ledger)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from service.api.notes.schemas import DocumentHash
from service.api.schemas import GrantAmount, Party, StrictModel

EvidenceKind = Literal["purchase_order", "delivery", "acceptance", "invoice", "production_data", "other"]
KINDS: tuple[str, ...] = ("purchase_order", "delivery", "acceptance", "invoice", "production_data", "other")
"""The ledger's evidence kinds, by their uint8 code (0..5)."""


class EvidenceIn(StrictModel):
    """A supplier registers a trade record against a named buyer: the SHA-256 of the document or
    data set, its kind, and an amount where the kind has one (an invoice needs one)."""

    kind: EvidenceKind
    document_hash: DocumentHash
    buyer: Party
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    amount: GrantAmount = Field(default=0)

    @model_validator(mode="after")
    def _invoice_has_an_amount(self) -> EvidenceIn:
        if self.kind == "invoice" and (self.amount == 0 or self.currency is None):
            raise ValueError("an invoice needs an amount above 0 and a currency")
        if self.amount > 0 and self.currency is None:
            raise ValueError("an amount needs a currency")
        return self


class AttestationOut(BaseModel):
    attester: str
    attester_member: str | None
    attested_at: datetime
    attested_block: int
    revoked_at: datetime | None
    revoked_block: int | None


class EvidenceOut(BaseModel):
    document_hash: str
    kind: str
    supplier: str
    supplier_member: str | None
    buyer: str
    buyer_member: str | None
    currency: str | None
    amount: str
    registered_at: datetime
    registered_block: int
    attester_count: int = Field(description="live attestations")
    financed_note_id: str | None = Field(description="the receivable it backs, if any")
    attestations: list[AttestationOut]


class EvidencePage(BaseModel):
    items: list[EvidenceOut]
    next_cursor: str | None


class EvidenceWrite(BaseModel):
    tx_hash: str
    block_number: int
    indexed: bool
    evidence: EvidenceOut | None = Field(description="the record as indexed (None until it is)")


class VerifyOut(BaseModel):
    document_hash: str
    computed_hash: str = Field(description="SHA-256 of the bytes sent")
    match: bool
    size: int
