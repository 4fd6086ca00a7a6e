"""The ledger's state machine, driven by events alone, over rows held in memory.

A `StateBatch` loads the rows a batch of events touches (one query per table), applies the events in
chain order to plain dicts shaped like the SQL rows, and hands back what to insert and what to
update (payments are only inserted; payment claims and settlement tokens are replaced by key, so
they need no loading). The same code replays stored events when a reorganisation is rolled back,
so the forward path and the rebuild can never disagree.

Events are anything with `name`, `block_number`, `tx_hash` and `values`; integer values may be ints
(freshly decoded) or decimal strings (read back from `events.args`), so handlers always `int()` them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from service.domain import DEFAULT_GRACE_PERIOD, DEFAULT_MAX_TENOR, MemberStatus, NoteStatus, root_of

log = logging.getLogger("credchain.indexer")

"""The contract's initial `maxTenor` (365 days), before any MaxTenorChanged."""

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
ZERO_REFERENCE = "0x" + "00" * 32
"""A bytes32 reference of zero: "none" (e.g. NotePaid's reference of a payment in tokens)."""

OFFER_OPEN = "open"
OFFER_ACCEPTED = "accepted"
OFFER_CANCELLED = "cancelled"

MEMBER_EVENTS = ("MemberOnboarded", "MemberRolesChanged", "MemberSuspended", "MemberReinstated")
CONFIG_EVENTS = ("OperatorTransferred", "OperatorTransferStarted", "MaxTenorChanged", "GracePeriodChanged")
CREDIT_EVENTS = ("CreditLimitSet", "FinancierApproved", "FinancierWithdrawn")
"""Events of one (financier, obligor) relationship; those with a `limit` also set the obligor's limit."""
LIMIT_EVENTS = ("CreditLimitSet", "FinancierWithdrawn")
TOKEN_EVENTS = ("SettlementTokenRegistered",)
MIN_PART_EVENTS = ("MinPartAmountSet",)
NOTE_EVENTS = (
    "NoteIssued",
    "NoteAccepted",
    "NoteRejected",
    "NoteRevoked",
    "NoteSplit",
    "NoteTransferred",
    "NoteFrozen",
    "NoteUnfrozen",
    "DiscountOffered",
    "DiscountOfferCancelled",
    "DiscountPaymentRecorded",
    "NoteDiscounted",
    "NotePaid",
    "PaymentClaimed",
    "PaymentClaimWithdrawn",
    "NoteOverdue",
    "NoteWrittenOff",
)
"""Events that concern one note (`noteId`): stored with the note's id and root id."""
NON_NOTE_EVENTS = MEMBER_EVENTS + CONFIG_EVENTS + CREDIT_EVENTS + TOKEN_EVENTS + MIN_PART_EVENTS
EVIDENCE_EVENTS = (
    "EvidenceRegistered",
    "EvidenceAttested",
    "AttestationRevoked",
    "ReceivableOriginated",
    "ReceivableConverted",
)
"""Events of the evidence tables: the EvidenceRegistry's, and the ledger's `ReceivableConverted`
(which also changes its root note's obligor and moves outstanding credit to the buyer)."""
EVIDENCE_KINDS = ("purchase_order", "delivery", "acceptance", "invoice", "production_data", "other")
"""EvidenceRegistry.KIND_* by value (`service.ledger.types.EvidenceKind`), as stored and shown."""

# Note events that change an existing note, and which argument names it.
_NOTE_TARGET = {
    "NoteAccepted": "noteId",
    "NoteRejected": "noteId",
    "NoteRevoked": "noteId",
    "NoteTransferred": "noteId",
    "NoteFrozen": "noteId",
    "NoteUnfrozen": "noteId",
    "NoteSplit": "parentId",
    "NoteDiscounted": "noteId",
    "NotePaid": "noteId",
    "NoteOverdue": "noteId",
    "NoteWrittenOff": "noteId",
    "ReceivableConverted": "rootId",
}

# Events that change an existing discount offer.
_OFFER_TARGET = ("DiscountOfferCancelled", "DiscountPaymentRecorded", "NoteDiscounted")

# Events that lower an obligor's outstanding amount by their `amount` (and carry the obligor).
OUTSTANDING_RELEASES = ("NoteRevoked", "NotePaid", "NoteWrittenOff")

Row = dict[str, Any]


class EventLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def block_number(self) -> int: ...
    @property
    def log_index(self) -> int: ...
    @property
    def tx_hash(self) -> str: ...
    @property
    def values(self) -> dict[str, Any]: ...


@dataclass(slots=True)
class StoredEvent:
    """An event read back from the `events` table (for replays)."""

    name: str
    block_number: int
    log_index: int
    tx_hash: str
    values: dict[str, Any]
    note_id: int | None = None
    root_id: int | None = None
    block_time: int = 0


class StateLoader(Protocol):
    """Reads the current rows of the entities a batch touches (empty results for fresh state)."""

    def notes(self, ids: Collection[int]) -> dict[int, Row]: ...
    def members(self, addresses: Collection[str]) -> dict[str, Row]: ...
    def credit(self, obligors: Collection[str]) -> dict[str, Row]: ...
    def grants(self, pairs: Collection[tuple[str, str]]) -> dict[tuple[str, str], Row]: ...
    def config(self) -> Row | None: ...
    def offers(self, ids: Collection[int]) -> dict[int, Row]: ...
    def evidence(self, doc_hashes: Collection[str]) -> dict[str, Row]: ...
    def attestations(self, keys: Collection[tuple[str, str]]) -> dict[tuple[str, str], Row]: ...
    def receivables(self, note_ids: Collection[int]) -> dict[int, Row]: ...


class EmptyLoader:
    """Loads nothing: replays start from an empty ledger."""

    def notes(self, ids: Collection[int]) -> dict[int, Row]:
        return {}

    def members(self, addresses: Collection[str]) -> dict[str, Row]:
        return {}

    def credit(self, obligors: Collection[str]) -> dict[str, Row]:
        return {}

    def grants(self, pairs: Collection[tuple[str, str]]) -> dict[tuple[str, str], Row]:
        return {}

    def config(self) -> Row | None:
        return None

    def offers(self, ids: Collection[int]) -> dict[int, Row]:
        return {}

    def evidence(self, doc_hashes: Collection[str]) -> dict[str, Row]:
        return {}

    def attestations(self, keys: Collection[tuple[str, str]]) -> dict[tuple[str, str], Row]:
        return {}

    def receivables(self, note_ids: Collection[int]) -> dict[int, Row]:
        return {}


def currency_code(hex_bytes3: str) -> str:
    """The ISO code in a bytes3 value ("0x555344" -> "USD")."""
    return bytes.fromhex(hex_bytes3[2:]).rstrip(b"\0").decode("ascii", errors="replace")


def _optional_address(address: str) -> str | None:
    return None if address.lower() == ZERO_ADDRESS else address


def optional_reference(reference: str) -> str | None:
    """A bytes32 reference as stored in SQL: its 0x-hex, or None for zero."""
    return None if int(reference, 16) == 0 else reference.lower()


@dataclass
class _Table:
    """Rows of one table: those loaded from SQL, those created by the batch, and which changed."""

    rows: dict[Any, Row] = field(default_factory=dict)
    new: set[Any] = field(default_factory=set)
    dirty: set[Any] = field(default_factory=set)

    def touch(self, key: Any) -> None:
        if key not in self.new:
            self.dirty.add(key)

    def add(self, key: Any, row: Row) -> None:
        if key in self.rows and key not in self.new:
            self.rows[key] = row
            self.dirty.add(key)
        else:
            self.rows[key] = row
            self.new.add(key)

    def inserts(self) -> list[Row]:
        return [self.rows[k] for k in self.new]

    def updates(self) -> list[Row]:
        return [self.rows[k] for k in self.dirty]


@dataclass
class _Replaced:
    """Rows written by deleting every touched key and inserting what the batch left there (None:
    deleted), so they need not be loaded first. For small tables keyed by what the event names."""

    rows: dict[Any, Row | None] = field(default_factory=dict)

    def put(self, key: Any, row: Row) -> None:
        self.rows[key] = row

    def remove(self, key: Any) -> None:
        self.rows[key] = None

    def keys(self) -> list[Any]:
        return list(self.rows)

    def inserts(self) -> list[Row]:
        return [row for row in self.rows.values() if row is not None]


class StateBatch:
    """Applies a batch of events of one contract to the rows they touch."""

    def __init__(
        self, contract: str, block_times: dict[int, int] | None = None, *, evidence: bool = True
    ) -> None:
        """`evidence` False: leave the evidence tables alone (a replay of note trees only)."""
        self.contract = contract
        self.track_evidence = evidence
        self.evidence = _Table()
        self.attestations = _Table()
        self.receivables = _Table()
        self.obligor_changes: dict[int, str] = {}
        """Notes whose obligor changed (a converted receivable's root), to their new obligor."""
        self.block_times: dict[int, int] = {} if block_times is None else block_times
        self.notes = _Table()
        self.members = _Table()
        self.credit = _Table()
        self.grants = _Table()
        self.config = _Table()
        self.offers = _Table()
        self.tokens = _Replaced()
        self.claims = _Replaced()
        self.min_parts = _Replaced()
        self.payments: list[Row] = []
        self.inconsistencies = 0
        self._handlers: dict[str, Callable[[EventLike, dict[str, Any], int], None]] = {
            "NoteIssued": self._note_issued,
            "NoteAccepted": self._note_accepted,
            "NoteRejected": self._note_rejected,
            "NoteRevoked": self._note_revoked,
            "NoteSplit": self._note_split,
            "NoteTransferred": self._note_transferred,
            "NoteFrozen": self._note_frozen,
            "NoteUnfrozen": self._note_unfrozen,
            "MemberOnboarded": self._member_onboarded,
            "MemberRolesChanged": self._member_roles_changed,
            "MemberSuspended": self._member_suspended,
            "MemberReinstated": self._member_reinstated,
            "CreditLimitSet": self._credit_limit_set,
            "FinancierApproved": self._financier_approved,
            "FinancierWithdrawn": self._financier_withdrawn,
            "OperatorTransferred": self._operator_transferred,
            "OperatorTransferStarted": self._operator_transfer_started,
            "MaxTenorChanged": self._max_tenor_changed,
            "GracePeriodChanged": self._grace_period_changed,
            "SettlementTokenRegistered": self._settlement_token_registered,
            "DiscountOffered": self._discount_offered,
            "DiscountOfferCancelled": self._discount_offer_cancelled,
            "DiscountPaymentRecorded": self._discount_payment_recorded,
            "NoteDiscounted": self._note_discounted,
            "NotePaid": self._note_paid,
            "PaymentClaimed": self._payment_claimed,
            "PaymentClaimWithdrawn": self._payment_claim_withdrawn,
            "MinPartAmountSet": self._min_part_amount_set,
            "NoteOverdue": self._note_overdue,
            "NoteWrittenOff": self._note_written_off,
            "ReceivableConverted": self._receivable_converted,
        }
        self._evidence_handlers: dict[str, Callable[[EventLike, dict[str, Any], int], None]] = {
            "EvidenceRegistered": self._evidence_registered,
            "EvidenceAttested": self._evidence_attested,
            "AttestationRevoked": self._attestation_revoked,
            "ReceivableOriginated": self._receivable_originated,
            "ReceivableConverted": self._receivable_converted_record,
        }

    # ------------------------------------------------------------------ loading
    def preload(self, events: Sequence[EventLike], loader: StateLoader) -> None:
        """Load every existing row the events will read or change."""
        note_ids: set[int] = set()
        created: set[int] = set()
        members: set[str] = set()
        obligors: set[str] = set()
        pairs: set[tuple[str, str]] = set()
        issued_obligor: dict[int, str] = {}
        rejected: list[int] = []
        offers: set[int] = set()
        created_offers: set[int] = set()
        doc_hashes: set[str] = set()
        attestations: set[tuple[str, str]] = set()
        receivables: set[int] = set()
        config = False
        for event in events:
            name = event.name
            values = event.values
            if name in EVIDENCE_EVENTS:
                if name in ("EvidenceAttested", "AttestationRevoked"):
                    doc_hashes.add(values["docHash"].lower())
                    attestations.add((values["docHash"].lower(), values["attester"]))
                elif name == "ReceivableOriginated":
                    doc_hashes.add(values["invoiceHash"].lower())
                elif name == "ReceivableConverted":
                    receivables.add(int(values["rootId"]))
                    obligors.update((values["buyer"], values["supplier"]))
            target = _NOTE_TARGET.get(name)
            if name in _OFFER_TARGET:
                offers.add(int(values["offerId"]))
            elif name == "DiscountOffered":
                created_offers.add(int(values["offerId"]))
            if target is not None:
                note_ids.add(int(values[target]))
                if name == "NoteSplit":
                    created.add(int(values["noteId"]))
                elif name == "NoteRejected":
                    rejected.append(int(values["noteId"]))
                elif name in OUTSTANDING_RELEASES:
                    obligors.add(values["obligor"])
            elif name == "NoteIssued":
                note_id = int(values["noteId"])
                created.add(note_id)
                issued_obligor[note_id] = values["obligor"]
                obligors.add(values["obligor"])
            elif name in MEMBER_EVENTS:
                members.add(values["account"])
            elif name in CREDIT_EVENTS:
                if name in LIMIT_EVENTS:
                    obligors.add(values["obligor"])
                pairs.add((values["financier"], values["obligor"]))
            elif name in CONFIG_EVENTS:
                config = True
        existing = note_ids - created
        if existing:
            self.notes.rows.update(loader.notes(existing))
        for note_id in rejected:
            row = self.notes.rows.get(note_id)
            obligor = row["obligor"] if row is not None else issued_obligor.get(note_id)
            if obligor is not None:
                obligors.add(obligor)
        if members:
            self.members.rows.update(loader.members(members))
        if obligors:
            self.credit.rows.update(loader.credit(obligors))
        if pairs:
            self.grants.rows.update(loader.grants(pairs))
        if config:
            row = loader.config()
            if row is not None:
                self.config.rows[self.contract] = row
        existing_offers = offers - created_offers
        if existing_offers:
            self.offers.rows.update(loader.offers(existing_offers))
        if self.track_evidence:
            if doc_hashes:
                self.evidence.rows.update(loader.evidence(doc_hashes))
            if attestations:
                self.attestations.rows.update(loader.attestations(attestations))
            if receivables:
                self.receivables.rows.update(loader.receivables(receivables))

    # ------------------------------------------------------------------ applying
    def apply_all(self, events: Iterable[EventLike]) -> None:
        for event in events:
            self.apply(event)

    def apply(self, event: EventLike) -> None:
        handler = self._handlers.get(event.name)
        if handler is not None:
            handler(event, event.values, int(event.block_number))
        if self.track_evidence:
            self.apply_evidence(event)

    def apply_evidence(self, event: EventLike) -> None:
        """Apply what `event` does to the evidence tables only."""
        handler = self._evidence_handlers.get(event.name)
        if handler is not None:
            handler(event, event.values, int(event.block_number))

    def _inconsistent(self, event: EventLike, what: str) -> None:
        self.inconsistencies += 1
        log.warning(
            "%s in block %s (tx %s) refers to %s the index does not know; was indexing started "
            "after the contract's deployment block?",
            event.name,
            event.block_number,
            event.tx_hash,
            what,
        )

    def _note(self, event: EventLike, note_id: int) -> Row | None:
        row = self.notes.rows.get(note_id)
        if row is None:
            self._inconsistent(event, f"note {note_id}")
        return row

    def _credit_row(self, obligor: str, block: int) -> Row:
        row = self.credit.rows.get(obligor)
        if row is None:
            row = {"obligor": obligor, "credit_limit": 0, "outstanding": 0, "updated_block": block}
            self.credit.add(obligor, row)
        else:
            self.credit.touch(obligor)
        row["updated_block"] = block
        return row

    def _config_row(self) -> Row:
        row = self.config.rows.get(self.contract)
        if row is None:
            row = {
                "contract": self.contract,
                "operator": None,
                "pending_operator": None,
                "max_tenor": DEFAULT_MAX_TENOR,
                "grace_period": DEFAULT_GRACE_PERIOD,
            }
            self.config.add(self.contract, row)
        else:
            self.config.touch(self.contract)
        return row

    def _set_note(self, note_id: int, row: Row, block: int, **changes: Any) -> None:
        row.update(changes)
        row["updated_block"] = block
        self.notes.touch(note_id)

    # notes
    def _note_issued(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        note_id = int(v["noteId"])
        amount = int(v["amount"])
        row: Row = {
            "id": note_id,
            "root_id": root_of(note_id),
            "parent_id": None,
            "depth": 0,
            "holder": v["holder"],
            "obligor": v["obligor"],
            "amount": amount,
            "currency": currency_code(v["currency"]),
            "maturity": int(v["maturity"]),
            "document_hash": v["documentHash"],
            "status": int(NoteStatus.PENDING),
            "frozen": False,
            "created_block": block,
            "created_tx": event.tx_hash,
            "updated_block": block,
            "paid_amount": 0,
            "written_off_amount": 0,
        }
        self.notes.add(note_id, row)
        credit = self._credit_row(v["obligor"], block)
        credit["outstanding"] += amount

    def _note_accepted(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        note_id = int(v["noteId"])
        row = self._note(event, note_id)
        if row is not None:
            self._set_note(note_id, row, block, status=int(NoteStatus.ACTIVE))

    def _note_rejected(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        note_id = int(v["noteId"])
        row = self._note(event, note_id)
        if row is not None:
            self._set_note(note_id, row, block, status=int(NoteStatus.REJECTED))
            credit = self._credit_row(row["obligor"], block)
            credit["outstanding"] -= int(v["amount"])

    def _note_revoked(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        note_id = int(v["noteId"])
        row = self._note(event, note_id)
        if row is not None:
            self._set_note(note_id, row, block, status=int(NoteStatus.REVOKED))
        credit = self._credit_row(v["obligor"], block)
        credit["outstanding"] -= int(v["amount"])

    def _note_split(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        parent_id = int(v["parentId"])
        parent = self._note(event, parent_id)
        if parent is None:
            return
        if parent["status"] != NoteStatus.SPLIT:
            self._set_note(parent_id, parent, block, status=int(NoteStatus.SPLIT))
        note_id = int(v["noteId"])
        self.notes.add(
            note_id,
            {
                "id": note_id,
                "root_id": int(v["rootId"]),
                "parent_id": parent_id,
                "depth": parent["depth"] + 1,
                "holder": v["holder"],
                "obligor": parent["obligor"],
                "amount": int(v["amount"]),
                "currency": parent["currency"],
                "maturity": parent["maturity"],
                "document_hash": parent["document_hash"],
                "status": int(NoteStatus.ACTIVE),
                "frozen": False,
                "created_block": block,
                "created_tx": event.tx_hash,
                "updated_block": block,
                "paid_amount": 0,
                "written_off_amount": 0,
            },
        )

    def _note_transferred(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        note_id = int(v["noteId"])
        row = self._note(event, note_id)
        if row is not None:
            self._set_note(note_id, row, block, holder=v["to"])

    def _note_frozen(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        note_id = int(v["noteId"])
        row = self._note(event, note_id)
        if row is not None:
            self._set_note(note_id, row, block, frozen=True)

    def _note_unfrozen(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        note_id = int(v["noteId"])
        row = self._note(event, note_id)
        if row is not None:
            self._set_note(note_id, row, block, frozen=False)

    # members
    def _member_onboarded(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        account = v["account"]
        self.members.add(
            account,
            {
                "address": account,
                "roles": int(v["roles"]),
                "status": int(MemberStatus.ACTIVE),
                "onboarded_block": block,
                "updated_block": block,
            },
        )

    def _member_change(self, event: EventLike, v: dict[str, Any], block: int, **changes: Any) -> None:
        account = v["account"]
        row = self.members.rows.get(account)
        if row is None:
            self._inconsistent(event, f"member {account}")
            return
        row.update(changes)
        row["updated_block"] = block
        self.members.touch(account)

    def _member_roles_changed(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        self._member_change(event, v, block, roles=int(v["roles"]))

    def _member_suspended(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        self._member_change(event, v, block, status=int(MemberStatus.SUSPENDED))

    def _member_reinstated(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        self._member_change(event, v, block, status=int(MemberStatus.ACTIVE))

    # credit
    def _grant_row(self, v: dict[str, Any], block: int) -> Row:
        financier, obligor = v["financier"], v["obligor"]
        key = (financier, obligor)
        grant = self.grants.rows.get(key)
        if grant is None:
            grant = {
                "financier": financier,
                "obligor": obligor,
                "amount": 0,
                "updated_block": block,
                "approved": False,
                "approved_block": None,
            }
            self.grants.add(key, grant)
        else:
            self.grants.touch(key)
        grant["updated_block"] = block
        return grant

    def _credit_limit_set(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        grant = self._grant_row(v, block)
        grant["amount"] = int(v["grant"])
        credit = self._credit_row(v["obligor"], block)
        credit["credit_limit"] = int(v["limit"])

    def _financier_approved(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        grant = self._grant_row(v, block)
        grant["approved"] = True
        grant["approved_block"] = block

    def _financier_withdrawn(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        grant = self._grant_row(v, block)
        grant["approved"] = False
        grant["amount"] = 0
        credit = self._credit_row(v["obligor"], block)
        credit["credit_limit"] = int(v["limit"])

    # configuration
    def _operator_transferred(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        row = self._config_row()
        row["operator"] = _optional_address(v["newOperator"])
        row["pending_operator"] = None

    def _operator_transfer_started(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        row = self._config_row()
        row["pending_operator"] = _optional_address(v["pendingOperator"])

    def _max_tenor_changed(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        row = self._config_row()
        row["max_tenor"] = int(v["maxTenor"])

    def _grace_period_changed(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        row = self._config_row()
        row["grace_period"] = int(v["gracePeriod"])

    def _settlement_token_registered(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        code = currency_code(v["currency"])
        self.tokens.put(code, {"currency": code, "token": v["token"], "registered_block": block})

    # discount
    def _min_part_amount_set(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        currency = currency_code(v["currency"])
        self.min_parts.put(
            currency, {"currency": currency, "amount": int(v["amount"]), "updated_block": block}
        )

    def _offer(self, event: EventLike, offer_id: int) -> Row | None:
        row = self.offers.rows.get(offer_id)
        if row is None:
            self._inconsistent(event, f"discount offer {offer_id}")
        else:
            self.offers.touch(offer_id)
        return row

    def _discount_offered(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        offer_id = int(v["offerId"])
        note_id = int(v["noteId"])
        self.offers.add(
            offer_id,
            {
                "id": offer_id,
                "note_id": note_id,
                "root_id": root_of(note_id),
                "financier": v["financier"],
                "holder": v["holder"],
                "price": int(v["price"]),
                "deadline": int(v["deadline"]),
                "off_chain": bool(v["offChain"]),
                "status": OFFER_OPEN,
                "payment_reference": None,
                "created_block": block,
                "created_tx": event.tx_hash,
                "closed_block": None,
                "closed_tx": None,
            },
        )

    def _discount_offer_cancelled(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        offer = self._offer(event, int(v["offerId"]))
        if offer is not None:
            offer.update(status=OFFER_CANCELLED, closed_block=block, closed_tx=event.tx_hash)

    def _discount_payment_recorded(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        offer = self._offer(event, int(v["offerId"]))
        if offer is not None:
            offer["payment_reference"] = optional_reference(v["paymentReference"])

    def _note_discounted(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        note_id = int(v["noteId"])
        row = self._note(event, note_id)
        if row is not None:
            self._set_note(note_id, row, block, holder=v["to"])
        offer = self._offer(event, int(v["offerId"]))
        if offer is not None:
            offer.update(status=OFFER_ACCEPTED, closed_block=block, closed_tx=event.tx_hash)
            reference = optional_reference(v["paymentReference"])
            if reference is not None:
                offer["payment_reference"] = reference

    # settlement
    def _note_paid(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        note_id = int(v["noteId"])
        amount = int(v["amount"])
        remaining = int(v["remaining"])
        reference = optional_reference(v["paymentReference"])
        row = self._note(event, note_id)
        if row is not None:
            paid = row["amount"] - remaining  # the event's remainder is the chain's word
            if paid != row["paid_amount"] + amount:
                self.inconsistencies += 1
                log.warning(
                    "NotePaid in block %s (tx %s) leaves %s of note %s unpaid, but the index had %s "
                    "paid before this %s; was an earlier payment missed?",
                    event.block_number,
                    event.tx_hash,
                    remaining,
                    note_id,
                    row["paid_amount"],
                    amount,
                )
            changes: dict[str, Any] = {"paid_amount": paid}
            if remaining == 0:
                changes["status"] = int(NoteStatus.SETTLED)
            self._set_note(note_id, row, block, **changes)
        credit = self._credit_row(v["obligor"], block)
        credit["outstanding"] -= amount
        self.payments.append(
            {
                "note_id": note_id,
                "root_id": root_of(note_id),
                "obligor": v["obligor"],
                "holder": v["holder"],
                "amount": amount,
                "remaining": remaining,
                "payment_reference": reference,
                "block_number": block,
                "block_time": self.block_times.get(block, getattr(event, "block_time", 0)),
                "tx_hash": event.tx_hash,
                "log_index": int(event.log_index),
            }
        )
        # Every payment ends a pending claim: the confirmed one is used up, and a payment in tokens
        # (pay or settleRoot) voids an unconfirmed one (the contract deletes it likewise).
        self.claims.remove(note_id)

    def _payment_claimed(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        note_id = int(v["noteId"])
        self.claims.put(
            note_id,
            {
                "note_id": note_id,
                "root_id": root_of(note_id),
                "obligor": v["obligor"],
                "holder": v["holder"],
                "amount": int(v["amount"]),
                "payment_reference": v["paymentReference"].lower(),
                "block_number": block,
                "tx_hash": event.tx_hash,
            },
        )

    def _payment_claim_withdrawn(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        self.claims.remove(int(v["noteId"]))

    def _note_overdue(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        note_id = int(v["noteId"])
        row = self._note(event, note_id)
        if row is not None:
            self._set_note(note_id, row, block, status=int(NoteStatus.OVERDUE))

    def _note_written_off(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        note_id = int(v["noteId"])
        amount = int(v["amount"])
        row = self._note(event, note_id)
        if row is not None:
            self._set_note(note_id, row, block, status=int(NoteStatus.WRITTEN_OFF), written_off_amount=amount)
        self.claims.remove(note_id)  # a write-off ends a pending claim
        credit = self._credit_row(v["obligor"], block)
        credit["outstanding"] -= amount

    # evidence-backed receivables
    def _time(self, event: EventLike, block: int) -> datetime:
        seconds = self.block_times.get(block, getattr(event, "block_time", 0))
        return datetime.fromtimestamp(int(seconds), UTC)

    def _receivable_converted(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        root_id = int(v["rootId"])
        amount = int(v["amount"])
        row = self._note(event, root_id)
        if row is not None:
            self._set_note(root_id, row, block, obligor=v["buyer"])
            self.obligor_changes[root_id] = v["buyer"]
        self._credit_row(v["buyer"], block)["outstanding"] += amount
        self._credit_row(v["supplier"], block)["outstanding"] -= amount

    def _evidence_record(self, event: EventLike, doc_hash: str) -> Row | None:
        row = self.evidence.rows.get(doc_hash)
        if row is None:
            self._inconsistent(event, f"evidence record {doc_hash}")
        return row

    def _evidence_registered(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        doc_hash = v["docHash"].lower()
        amount = int(v["amount"])
        currency = currency_code(v["currency"])
        self.evidence.add(
            doc_hash,
            {
                "doc_hash": doc_hash,
                "supplier": v["supplier"],
                "buyer": v["buyer"],
                "kind": EVIDENCE_KINDS[int(v["kind"])],
                "currency": currency or None,
                "amount": amount,
                "registered_block": block,
                "registered_at": self._time(event, block),
                "attester_count": 0,
                "financed_note_id": None,
            },
        )

    def _evidence_attested(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        doc_hash = v["docHash"].lower()
        record = self._evidence_record(event, doc_hash)
        if record is not None:
            record["attester_count"] += 1
            self.evidence.touch(doc_hash)
        key = (doc_hash, v["attester"])
        self.attestations.add(
            key,
            {
                "doc_hash": doc_hash,
                "attester": v["attester"],
                "attested_block": block,
                "attested_at": self._time(event, block),
                "revoked_block": None,
                "revoked_at": None,
            },
        )

    def _attestation_revoked(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        doc_hash = v["docHash"].lower()
        record = self._evidence_record(event, doc_hash)
        if record is not None:
            record["attester_count"] -= 1
            self.evidence.touch(doc_hash)
        key = (doc_hash, v["attester"])
        row = self.attestations.rows.get(key)
        if row is None:
            self._inconsistent(event, f"attestation of {doc_hash} by {v['attester']}")
            return
        row.update(revoked_block=block, revoked_at=self._time(event, block))
        self.attestations.touch(key)

    def _receivable_originated(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        note_id = int(v["noteId"])
        invoice = v["invoiceHash"].lower()
        record = self._evidence_record(event, invoice)
        if record is not None:
            record["financed_note_id"] = note_id
            self.evidence.touch(invoice)
        self.receivables.add(
            note_id,
            {
                "note_id": note_id,
                "supplier": v["supplier"],
                "buyer": v["buyer"],
                "invoice_hash": invoice,
                "supporting": [h.lower() for h in v["supporting"]],
                "attesters_at_origination": int(v["attesters"]),
                "originated_block": block,
                "originated_at": self._time(event, block),
                "converted_block": None,
                "converted_at": None,
            },
        )

    def _receivable_converted_record(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        note_id = int(v["rootId"])
        row = self.receivables.rows.get(note_id)
        if row is None:
            self._inconsistent(event, f"receivable {note_id}")
            return
        row.update(converted_block=block, converted_at=self._time(event, block))
        self.receivables.touch(note_id)
