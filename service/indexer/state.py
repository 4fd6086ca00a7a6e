"""The ledger's state machine, driven by events alone, over rows held in memory.

A `StateBatch` loads the rows a batch of events touches (one query per table), applies the events in
chain order to plain dicts shaped like the SQL rows, and hands back what to insert and what to
update. The same code replays stored events when a reorganisation is rolled back, so the forward
path and the rebuild can never disagree.

Events are anything with `name`, `block_number`, `tx_hash` and `values`; integer values may be ints
(freshly decoded) or decimal strings (read back from `events.args`), so handlers always `int()` them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from service.domain import MemberStatus, NoteStatus, root_of

log = logging.getLogger("credchain.indexer")

DEFAULT_MAX_TENOR = 365 * 86_400
"""The contract's initial `maxTenor` (365 days), before any MaxTenorChanged."""

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"

MEMBER_EVENTS = ("MemberOnboarded", "MemberRolesChanged", "MemberSuspended", "MemberReinstated")
CONFIG_EVENTS = ("OperatorTransferred", "OperatorTransferStarted", "MaxTenorChanged")
CREDIT_EVENTS = ("CreditLimitSet",)
NOTE_EVENTS = (
    "NoteIssued",
    "NoteAccepted",
    "NoteRejected",
    "NoteRevoked",
    "NoteSplit",
    "NoteTransferred",
    "NoteFrozen",
    "NoteUnfrozen",
)
NON_NOTE_EVENTS = MEMBER_EVENTS + CONFIG_EVENTS + CREDIT_EVENTS

# Note events that change an existing note, and which argument names it.
_NOTE_TARGET = {
    "NoteAccepted": "noteId",
    "NoteRejected": "noteId",
    "NoteRevoked": "noteId",
    "NoteTransferred": "noteId",
    "NoteFrozen": "noteId",
    "NoteUnfrozen": "noteId",
    "NoteSplit": "parentId",
}

Row = dict[str, Any]


class EventLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def block_number(self) -> int: ...
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


class StateLoader(Protocol):
    """Reads the current rows of the entities a batch touches (empty results for fresh state)."""

    def notes(self, ids: Collection[int]) -> dict[int, Row]: ...
    def members(self, addresses: Collection[str]) -> dict[str, Row]: ...
    def credit(self, obligors: Collection[str]) -> dict[str, Row]: ...
    def grants(self, pairs: Collection[tuple[str, str]]) -> dict[tuple[str, str], Row]: ...
    def config(self) -> Row | None: ...


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


def currency_code(hex_bytes3: str) -> str:
    """The ISO code in a bytes3 value ("0x555344" -> "USD")."""
    return bytes.fromhex(hex_bytes3[2:]).rstrip(b"\0").decode("ascii", errors="replace")


def _optional_address(address: str) -> str | None:
    return None if address.lower() == ZERO_ADDRESS else address


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


class StateBatch:
    """Applies a batch of events of one contract to the rows they touch."""

    def __init__(self, contract: str) -> None:
        self.contract = contract
        self.notes = _Table()
        self.members = _Table()
        self.credit = _Table()
        self.grants = _Table()
        self.config = _Table()
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
            "OperatorTransferred": self._operator_transferred,
            "OperatorTransferStarted": self._operator_transfer_started,
            "MaxTenorChanged": self._max_tenor_changed,
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
        config = False
        for event in events:
            name = event.name
            values = event.values
            target = _NOTE_TARGET.get(name)
            if target is not None:
                note_ids.add(int(values[target]))
                if name == "NoteSplit":
                    created.add(int(values["noteId"]))
                elif name == "NoteRejected":
                    rejected.append(int(values["noteId"]))
                elif name == "NoteRevoked":
                    obligors.add(values["obligor"])
            elif name == "NoteIssued":
                note_id = int(values["noteId"])
                created.add(note_id)
                issued_obligor[note_id] = values["obligor"]
                obligors.add(values["obligor"])
            elif name in MEMBER_EVENTS:
                members.add(values["account"])
            elif name == "CreditLimitSet":
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

    # ------------------------------------------------------------------ applying
    def apply_all(self, events: Iterable[EventLike]) -> None:
        for event in events:
            self.apply(event)

    def apply(self, event: EventLike) -> None:
        handler = self._handlers.get(event.name)
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
    def _credit_limit_set(self, event: EventLike, v: dict[str, Any], block: int) -> None:
        financier, obligor = v["financier"], v["obligor"]
        key = (financier, obligor)
        grant = self.grants.rows.get(key)
        if grant is None:
            self.grants.add(
                key, {"financier": financier, "obligor": obligor, "amount": 0, "updated_block": block}
            )
            grant = self.grants.rows[key]
        else:
            self.grants.touch(key)
        grant["amount"] = int(v["grant"])
        grant["updated_block"] = block
        credit = self._credit_row(obligor, block)
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
