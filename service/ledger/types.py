"""What the ledger clients hand back and take: mined transaction results, note/member/offer state as
read from the contracts, split parts, and the byte encodings of references and currencies."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from service.domain import MemberStatus, NoteStatus, Role
from service.ledger.abi_codec import DecodedEvent

LEDGER_CONTRACT = "CreditNoteLedger"


TOKEN_CONTRACT = "SettlementToken"


FORWARDER_CONTRACT = "CreditChainForwarder"


EVIDENCE_CONTRACT = "EvidenceRegistry"


ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


@dataclass(frozen=True)
class TxResult:
    """A mined transaction and the ledger events it emitted."""

    tx_hash: str
    block_number: int
    gas_used: int
    events: tuple[DecodedEvent, ...]
    contract_address: str | None = None
    """The contract a deployment created (None for calls)."""
    block_hash: str | None = None
    """The hash of the block it was mined in (0x-hex), to tell it from a block of the same number
    on another branch after a reorganisation."""

    def created_note_ids(self) -> list[int]:
        """Ids of the notes the transaction created (issue or split), in order."""
        ids: list[int] = []
        for event in self.events:
            if event.name in ("NoteIssued", "NoteSplit"):
                ids.append(int(event.args["noteId"]))
        return ids

    def offer_id(self) -> int:
        """Id of the discount offer the transaction made."""
        for event in self.events:
            if event.name == "DiscountOffered":
                return int(event.args["offerId"])
        raise LookupError("the transaction made no discount offer")


class EvidenceKind(IntEnum):
    """EvidenceRegistry.KIND_*: what a trade record is."""

    PURCHASE_ORDER = 0
    DELIVERY = 1
    ACCEPTANCE = 2
    INVOICE = 3
    PRODUCTION_DATA = 4
    OTHER = 5


@dataclass(frozen=True)
class EvidenceState:
    """A trade record as the EvidenceRegistry stores it (supplier zero: unknown hash)."""

    doc_hash: bytes
    supplier: str
    buyer: str
    kind: EvidenceKind
    currency: str
    amount: int
    attesters: int
    """Live attestations (each by a distinct data provider, neither the supplier nor the buyer)."""


@dataclass(frozen=True)
class NoteState:
    """A note as the ledger stores it."""

    note_id: int
    holder: str
    obligor: str
    amount: int
    currency: str
    maturity: int
    status: NoteStatus
    frozen: bool
    root_id: int
    document_hash: bytes


@dataclass(frozen=True)
class MemberState:
    """A member as the registry stores it."""

    address: str
    roles: Role
    status: MemberStatus
    onboarded_at: int


@dataclass(frozen=True)
class SplitPart:
    """One part of a split: recipient address and amount in minor units."""

    to: str
    amount: int


@dataclass(frozen=True)
class OfferState:
    """An open discount offer as the ledger stores it (note_id 0: unknown or closed)."""

    offer_id: int
    note_id: int
    financier: str
    holder: str
    price: int
    deadline: int
    off_chain: bool
    payment_reference: bytes


def reference_bytes(reference: bytes | str) -> bytes:
    """A payment or decision reference as bytes32: raw bytes or text, right-padded with zeros."""
    raw = reference.encode("utf-8") if isinstance(reference, str) else reference
    if len(raw) > 32:
        raise ValueError("a reference is at most 32 bytes")
    return raw.ljust(32, b"\0")


def currency_bytes(code: str) -> bytes:
    """ISO 4217 code as the contract's bytes3 (validation is the contract's job)."""
    raw = code.encode("ascii", errors="replace")
    return raw[:3].ljust(3, b"\0")
