"""Domain events from the contract events of an index batch (a `BatchHook` of `IndexStore`).

`derive_domain_events` runs inside `apply_batch`'s transaction, after the index's tables were
written: it turns each decoded contract event into zero or more domain events (`service.events.types`)
addressed to the member they concern (`recipient`) and about a member (`subject`), with the ledger
position of the contract event and, in `data`, what a receiver needs without a second call: the
note as it stands after the batch (amounts as strings of minor units with the currency code, times
ISO 8601 UTC, holder and obligor as address + gateway member id and name, the document hash), and
the figures of the contract event itself (the amount paid, the price of an offer, ...). The issuer's
free-text reference is not there: the gateway stores it once the issue is indexed, after this hook.

Per batch at most three extra queries, each only when needed: the gateway's members named by the
batch (`api_members`, for ids and names), notes the batch did not load (a discount offer on a note
the batch did not change), and the open offers a transfer, discount, freeze or split voids. All
drafts go in with one executemany (`service.events.log.append_events`).

`note.overdue` is derived from the ledger's own `NoteOverdue` (someone called `markOverdue`): a note
that passes maturity plus the grace period without a block is the early-warning scheduler's business
(an `alert.raised` of the overdue rule, `service.alerts`), not a ledger event.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import Connection, Table, and_, exists, or_, select

from service.db.event_models import DomainEvent
from service.db.gateway_models import ApiMember
from service.db.models import DiscountOffer, Note
from service.domain import NoteStatus
from service.events.batch import AppliedBatch
from service.events.log import EventDraft, append_events
from service.indexer.decode import DecodedLog
from service.indexer.state import Row, optional_reference

NOTES: Table = Note.__table__  # type: ignore[assignment]
OFFERS: Table = DiscountOffer.__table__  # type: ignore[assignment]
MEMBERS: Table = ApiMember.__table__  # type: ignore[assignment]
DOMAIN_EVENTS: Table = DomainEvent.__table__  # type: ignore[assignment]
CHUNK: Final = 900


PRODUCING: Final = frozenset(
    {
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
        "NoteDiscounted",
        "NotePaid",
        "PaymentClaimed",
        "NoteOverdue",
        "NoteWrittenOff",
        "MemberSuspended",
        "MemberReinstated",
        "CreditLimitSet",
        "FinancierWithdrawn",
        "EvidenceRegistered",
        "EvidenceAttested",
        "AttestationRevoked",
        "ReceivableOriginated",
        "ReceivableConverted",
    }
)
"""Contract events that always produce at least one domain event at their own position (checked by
`service.indexer.reconcile`)."""

VOIDING: Final = frozenset({"NoteTransferred", "NoteDiscounted", "NoteFrozen", "NoteSplit"})
"""Contract events that void every open offer made before on their note (as
`service.api.financing.queries.VOIDING_EVENTS`)."""


def iso(seconds: int) -> str:
    """Unix seconds as ISO 8601 UTC ("2026-01-02T03:04:05Z")."""
    return datetime.fromtimestamp(int(seconds), UTC).isoformat().replace("+00:00", "Z")


class _Parties:
    """Party objects ({address, member_id, name}) shared by every event naming the same address,
    completed by one query of `api_members` once the batch is derived."""

    def __init__(self) -> None:
        self.by_address: dict[str, dict[str, Any]] = {}

    def __call__(self, address: str | None) -> dict[str, Any] | None:
        if address is None:
            return None
        party = self.by_address.get(address)
        if party is None:
            party = self.by_address[address] = {"address": address, "member_id": None, "name": None}
        return party

    def complete(self, conn: Connection) -> None:
        addresses = sorted(self.by_address)
        for start in range(0, len(addresses), CHUNK):
            chunk = addresses[start : start + CHUNK]
            rows = conn.execute(
                select(MEMBERS.c.address, MEMBERS.c.id, MEMBERS.c.name).where(MEMBERS.c.address.in_(chunk))
            )
            for address, member_id, name in rows:
                party = self.by_address.get(address)
                if party is not None:
                    party["member_id"], party["name"] = member_id, name


class _Deriver:
    def __init__(self, conn: Connection, batch: AppliedBatch) -> None:
        self.conn = conn
        self.batch = batch
        self.state = batch.state
        self.party = _Parties()
        self.drafts: list[EventDraft] = []
        self.times: dict[int, datetime] = {
            n: datetime.fromtimestamp(t, UTC) for n, t in batch.block_times.items()
        }
        self.extra_notes: dict[int, Row] = {}
        self.note_views: dict[int, dict[str, Any]] = {}
        self.splits: dict[tuple[str, int], dict[str, Any]] = {}
        self.live_offers: dict[int, dict[int, Row]] = {}

    # ------------------------------------------------------------------ loading
    def preload(self, events: Sequence[DecodedLog]) -> None:
        missing: set[int] = set()
        voiding_notes: set[int] = set()
        closed_offers: set[int] = set()
        notes = self.state.notes.rows
        for e in events:
            name = e.name
            if name == "DiscountOffered":
                note_id = int(e.values["noteId"])
                if note_id not in notes:
                    missing.add(note_id)
            elif name in ("DiscountOfferCancelled", "NoteDiscounted"):
                closed_offers.add(int(e.values["offerId"]))
                note_id = int(e.values["noteId"])
                if note_id not in notes:
                    missing.add(note_id)
            if name in VOIDING:
                voiding_notes.add(int(e.values["parentId" if name == "NoteSplit" else "noteId"]))
        for chunk in _chunks(sorted(missing)):
            for row in self.conn.execute(select(NOTES).where(NOTES.c.id.in_(chunk))).mappings():
                self.extra_notes[int(row["id"])] = dict(row)
        if voiding_notes:
            self._load_open_offers(voiding_notes, closed_offers)

    def _load_open_offers(self, note_ids: set[int], closed_in_batch: set[int]) -> None:
        """The offers open at the start of the batch on `note_ids` that no `offer.void` named yet
        (an offer closed by this batch was open at its start)."""
        already_void = exists().where(
            DOMAIN_EVENTS.c.type == "offer.void",
            DOMAIN_EVENTS.c.offer_id == OFFERS.c.id,
            DOMAIN_EVENTS.c.retracted_by.is_(None),
        )
        for chunk in _chunks(sorted(note_ids)):
            status = OFFERS.c.status == "open"
            if closed_in_batch:
                status = or_(status, OFFERS.c.id.in_(sorted(closed_in_batch)))
            stmt = select(OFFERS).where(
                and_(
                    OFFERS.c.note_id.in_(chunk),
                    OFFERS.c.created_block < self.batch.first_block,
                    status,
                    ~already_void,
                )
            )
            for row in self.conn.execute(stmt).mappings():
                self.live_offers.setdefault(int(row["note_id"]), {})[int(row["id"])] = dict(row)

    # ------------------------------------------------------------------ views
    def note_row(self, note_id: int) -> Row | None:
        row = self.state.notes.rows.get(note_id)
        return row if row is not None else self.extra_notes.get(note_id)

    def note_view(self, note_id: int) -> dict[str, Any] | None:
        """The note as it stands after the batch (one shared object per note and batch)."""
        view = self.note_views.get(note_id)
        if view is not None:
            return view
        row = self.note_row(note_id)
        if row is None:
            return None
        parent = row.get("parent_id")
        paid = int(row.get("paid_amount") or 0)
        view = {
            "id": str(note_id),
            "root_id": str(row["root_id"]),
            "parent_id": None if parent is None else str(parent),
            "depth": int(row["depth"]),
            "amount": str(int(row["amount"])),
            "currency": row["currency"],
            "paid_amount": str(paid),
            "remaining": str(int(row["amount"]) - paid),
            "maturity": iso(int(row["maturity"])),
            "document_hash": row["document_hash"],
            "status": NoteStatus(int(row["status"])).name.lower(),
            "frozen": bool(row["frozen"]),
            "holder": self.party(row["holder"]),
            "obligor": self.party(row["obligor"]),
        }
        self.note_views[note_id] = view
        return view

    def money(self, amount: Any, note_id: int) -> dict[str, str | None]:
        row = self.note_row(note_id)
        return {"amount": str(int(amount)), "currency": None if row is None else row["currency"]}

    def offer_view(self, offer: Row) -> dict[str, Any]:
        note_id = int(offer["note_id"])
        return {
            "id": str(offer["id"]),
            "note_id": str(note_id),
            "financier": self.party(offer["financier"]),
            "holder": self.party(offer["holder"]),
            "price": self.money(offer["price"], note_id),
            "deadline": iso(int(offer["deadline"])),
            "off_chain": bool(offer["off_chain"]),
        }

    # ------------------------------------------------------------------ drafts
    def add(
        self,
        e: DecodedLog,
        kind: str,
        data: dict[str, Any],
        *,
        note_id: int | None = None,
        offer_id: int | None = None,
        subject: str | None = None,
        recipient: str | None = None,
    ) -> None:
        root_id = None
        if note_id is not None:
            row = self.note_row(note_id)
            root_id = int(row["root_id"]) if row is not None else e.root_id
        self.drafts.append(
            EventDraft(
                type=kind,
                occurred_at=self.times[e.block_number],
                data=data,
                contract=self.batch.contract,
                block_number=e.block_number,
                block_hash=e.block_hash,
                tx_hash=e.tx_hash,
                log_index=e.log_index,
                note_id=note_id,
                root_id=root_id,
                offer_id=offer_id,
                subject=subject,
                recipient=recipient,
            )
        )

    def note_event(self, e: DecodedLog, kind: str, note_id: int, recipient: str | None, **data: Any) -> None:
        row = self.note_row(note_id)
        self.add(
            e,
            kind,
            {"note": self.note_view(note_id), **data},
            note_id=note_id,
            subject=None if row is None else row["obligor"],
            recipient=recipient,
        )

    def void_offers(self, e: DecodedLog, note_id: int) -> None:
        live = self.live_offers.pop(note_id, None)
        if not live:
            return
        now = self.batch.block_times[e.block_number]
        for offer_id, offer in sorted(live.items()):
            if now > int(offer["deadline"]):
                continue  # expired before it was voided: not void
            self.add(
                e,
                "offer.void",
                {"offer": self.offer_view(offer), "reason": _VOID_REASON[e.name]},
                note_id=note_id,
                offer_id=offer_id,
                subject=offer["holder"],
                recipient=offer["financier"],
            )

    # ------------------------------------------------------------------ the events
    def derive(self, events: Iterable[DecodedLog]) -> None:
        for e in events:
            handler = _HANDLERS.get(e.name)
            if handler is not None:
                if e.name in VOIDING:
                    note_id = int(e.values["parentId" if e.name == "NoteSplit" else "noteId"])
                    taken = None
                    if e.name == "NoteDiscounted":  # the offer taken is accepted, not void
                        taken = self.live_offers.get(note_id, {}).pop(int(e.values["offerId"]), None)
                    self.void_offers(e, note_id)
                    if taken is not None:
                        self.live_offers.setdefault(note_id, {})[int(e.values["offerId"])] = taken
                handler(self, e, e.values)

    def issued(self, e: DecodedLog, v: dict[str, Any]) -> None:
        note_id = int(v["noteId"])
        self.note_event(
            e,
            "note.issued",
            note_id,
            v["holder"],
            amount=self.money(v["amount"], note_id),
            maturity=iso(int(v["maturity"])),
            document_hash=v["documentHash"],
            obligor=self.party(v["obligor"]),
            supplier=self.party(v["holder"]),
        )

    def accepted(self, e: DecodedLog, v: dict[str, Any]) -> None:
        note_id = int(v["noteId"])
        row = self.note_row(note_id)
        self.note_event(
            e,
            "note.accepted",
            note_id,
            None if row is None else row["obligor"],
            holder=self.party(v["holder"]),
        )

    def rejected(self, e: DecodedLog, v: dict[str, Any]) -> None:
        note_id = int(v["noteId"])
        row = self.note_row(note_id)
        self.note_event(
            e,
            "note.rejected",
            note_id,
            None if row is None else row["obligor"],
            holder=self.party(v["holder"]),
            amount=self.money(v["amount"], note_id),
        )

    def revoked(self, e: DecodedLog, v: dict[str, Any]) -> None:
        note_id = int(v["noteId"])
        row = self.note_row(note_id)
        self.note_event(
            e,
            "note.revoked",
            note_id,
            None if row is None else row["holder"],
            amount=self.money(v["amount"], note_id),
        )

    def split(self, e: DecodedLog, v: dict[str, Any]) -> None:
        parent_id, note_id = int(v["parentId"]), int(v["noteId"])
        parent = self.note_row(parent_id)
        splitter = None if parent is None else parent["holder"]
        part = {
            "note_id": str(note_id),
            "holder": self.party(v["holder"]),
            "amount": self.money(v["amount"], note_id),
        }
        key = (e.tx_hash, parent_id)
        split = self.splits.get(key)
        if split is None:  # the first part of a split consumes the parent: one note.split per split
            split = self.splits[key] = {"parent_id": str(parent_id), "parts": []}
            self.note_event(e, "note.split", parent_id, splitter, **split)
        split["parts"].append(part)
        if v["holder"] != splitter:
            self.note_event(
                e,
                "note.received",
                note_id,
                v["holder"],
                how="split",
                **{"from": self.party(splitter)},
                amount=part["amount"],
            )

    def transferred(self, e: DecodedLog, v: dict[str, Any]) -> None:
        note_id = int(v["noteId"])
        if v["to"] == v["from"]:
            return
        row = self.note_row(note_id)
        self.note_event(
            e,
            "note.received",
            note_id,
            v["to"],
            how="transfer",
            **{"from": self.party(v["from"])},
            amount=None if row is None else self.money(row["amount"], note_id),
        )

    def frozen(self, e: DecodedLog, v: dict[str, Any]) -> None:
        note_id = int(v["noteId"])
        row = self.note_row(note_id)
        self.note_event(
            e,
            "note.frozen",
            note_id,
            None if row is None else row["holder"],
            reason=optional_reference(v["reason"]),
        )

    def unfrozen(self, e: DecodedLog, v: dict[str, Any]) -> None:
        note_id = int(v["noteId"])
        row = self.note_row(note_id)
        self.note_event(e, "note.unfrozen", note_id, None if row is None else row["holder"])

    def offered(self, e: DecodedLog, v: dict[str, Any]) -> None:
        offer_id, note_id = int(v["offerId"]), int(v["noteId"])
        offer = {
            "id": offer_id,
            "note_id": note_id,
            "financier": v["financier"],
            "holder": v["holder"],
            "price": int(v["price"]),
            "deadline": int(v["deadline"]),
            "off_chain": bool(v["offChain"]),
        }
        self.live_offers.setdefault(note_id, {})[offer_id] = offer
        self.add(
            e,
            "offer.received",
            {"offer": self.offer_view(offer), "note": self.note_view(note_id)},
            note_id=note_id,
            offer_id=offer_id,
            subject=v["financier"],
            recipient=v["holder"],
        )

    def _closed_offer(self, offer_id: int, note_id: int) -> Row | None:
        live = self.live_offers.get(note_id)
        offer = live.pop(offer_id, None) if live else None
        return offer if offer is not None else self.state.offers.rows.get(offer_id)

    def offer_cancelled(self, e: DecodedLog, v: dict[str, Any]) -> None:
        offer_id, note_id = int(v["offerId"]), int(v["noteId"])
        offer = self._closed_offer(offer_id, note_id)
        self.add(
            e,
            "offer.cancelled",
            {"offer": None if offer is None else self.offer_view(offer), "note": self.note_view(note_id)},
            note_id=note_id,
            offer_id=offer_id,
            subject=None if offer is None else offer["holder"],
            recipient=v["financier"],
        )

    def discounted(self, e: DecodedLog, v: dict[str, Any]) -> None:
        note_id, offer_id = int(v["noteId"]), int(v["offerId"])
        offer = self._closed_offer(offer_id, note_id)
        # void the other offers first (`derive` did), then tell the financier and the seller
        reference = optional_reference(v["paymentReference"])
        price = self.money(v["price"], note_id)
        self.add(
            e,
            "offer.accepted",
            {
                "offer": None if offer is None else self.offer_view(offer),
                "note": self.note_view(note_id),
                "price": price,
                "payment_reference": reference,
            },
            note_id=note_id,
            offer_id=offer_id,
            subject=v["from"],
            recipient=v["to"],
        )
        self.note_event(
            e,
            "note.discounted",
            note_id,
            v["from"],
            offer_id=str(offer_id),
            seller=self.party(v["from"]),
            financier=self.party(v["to"]),
            price=price,
            payment_reference=reference,
        )

    def paid(self, e: DecodedLog, v: dict[str, Any]) -> None:
        note_id = int(v["noteId"])
        reference = optional_reference(v["paymentReference"])
        remaining = int(v["remaining"])
        common = {
            "obligor": self.party(v["obligor"]),
            "holder": self.party(v["holder"]),
            "amount": self.money(v["amount"], note_id),
            "remaining": self.money(remaining, note_id),
            "payment_reference": reference,
            "method": "tokens" if reference is None else "off_chain",
        }
        self.note_event(e, "payment.received", note_id, v["holder"], **common)
        if remaining == 0:
            self.note_event(e, "note.settled", note_id, v["holder"], **common)

    def claimed(self, e: DecodedLog, v: dict[str, Any]) -> None:
        note_id = int(v["noteId"])
        self.note_event(
            e,
            "payment.claimed",
            note_id,
            v["holder"],
            obligor=self.party(v["obligor"]),
            amount=self.money(v["amount"], note_id),
            payment_reference=v["paymentReference"].lower(),
        )

    def overdue(self, e: DecodedLog, v: dict[str, Any]) -> None:
        note_id = int(v["noteId"])
        self.note_event(
            e,
            "note.overdue",
            note_id,
            v["holder"],
            obligor=self.party(v["obligor"]),
            remaining=self.money(v["remaining"], note_id),
        )

    def written_off(self, e: DecodedLog, v: dict[str, Any]) -> None:
        note_id = int(v["noteId"])
        self.note_event(
            e,
            "note.written_off",
            note_id,
            v["holder"],
            obligor=self.party(v["obligor"]),
            amount=self.money(v["amount"], note_id),
            decision_reference=optional_reference(v["decisionReference"]),
        )

    def member(self, e: DecodedLog, v: dict[str, Any]) -> None:
        account = v["account"]
        kind = "member.suspended" if e.name == "MemberSuspended" else "member.reinstated"
        self.add(e, kind, {"member": self.party(account)}, subject=account, recipient=account)

    def credit_limit(self, e: DecodedLog, v: dict[str, Any]) -> None:
        obligor, financier = v["obligor"], v["financier"]
        credit = self.state.credit.rows.get(obligor)
        self.add(
            e,
            "credit_limit.changed",
            {
                "obligor": self.party(obligor),
                "financier": self.party(financier),
                "grant": str(0 if e.name == "FinancierWithdrawn" else int(v["grant"])),
                "limit": str(int(v["limit"])),
                "withdrawn": e.name == "FinancierWithdrawn",
                "outstanding": None if credit is None else str(int(credit["outstanding"])),
            },
            subject=obligor,
            recipient=financier,
        )

    # evidence-backed receivables
    def evidence_view(self, doc_hash: str) -> dict[str, Any] | None:
        """A trade record as it stands after the batch (None if the index does not know it)."""
        row = self.state.evidence.rows.get(doc_hash.lower())
        if row is None:
            return None
        amount = int(row["amount"])
        return {
            "doc_hash": row["doc_hash"],
            "kind": row["kind"],
            "supplier": self.party(row["supplier"]),
            "buyer": self.party(row["buyer"]),
            "amount": None if amount == 0 else {"amount": str(amount), "currency": row["currency"]},
            "attester_count": int(row["attester_count"]),
            "financed_note_id": None if row["financed_note_id"] is None else str(row["financed_note_id"]),
        }

    def evidence_registered(self, e: DecodedLog, v: dict[str, Any]) -> None:
        self.add(
            e,
            "evidence.registered",
            {"evidence": self.evidence_view(v["docHash"])},
            subject=v["supplier"],
            recipient=v["buyer"],
        )

    def attestation(self, e: DecodedLog, v: dict[str, Any]) -> None:
        kind = "evidence.attested" if e.name == "EvidenceAttested" else "evidence.attestation_revoked"
        row = self.state.evidence.rows.get(v["docHash"].lower())
        self.add(
            e,
            kind,
            {"evidence": self.evidence_view(v["docHash"]), "attester": self.party(v["attester"])},
            subject=v["attester"],
            recipient=None if row is None else row["supplier"],
        )

    def receivable_originated(self, e: DecodedLog, v: dict[str, Any]) -> None:
        note_id = int(v["noteId"])
        self.add(
            e,
            "receivable.originated",
            {
                "note": self.note_view(note_id),
                "supplier": self.party(v["supplier"]),
                "buyer": self.party(v["buyer"]),
                "invoice_hash": v["invoiceHash"].lower(),
                "supporting": [h.lower() for h in v["supporting"]],
                "attesters": int(v["attesters"]),
            },
            note_id=note_id,
            subject=v["supplier"],
            recipient=v["buyer"],
        )

    def receivable_converted(self, e: DecodedLog, v: dict[str, Any]) -> None:
        note_id = int(v["rootId"])
        self.add(
            e,
            "receivable.converted",
            {
                "note": self.note_view(note_id),
                "buyer": self.party(v["buyer"]),
                "supplier": self.party(v["supplier"]),
                "amount": self.money(v["amount"], note_id),
            },
            note_id=note_id,
            subject=v["buyer"],
            recipient=v["supplier"],
        )


_VOID_REASON = {
    "NoteTransferred": "transferred",
    "NoteDiscounted": "discounted",
    "NoteFrozen": "frozen",
    "NoteSplit": "split",
}

_HANDLERS = {
    "NoteIssued": _Deriver.issued,
    "NoteAccepted": _Deriver.accepted,
    "NoteRejected": _Deriver.rejected,
    "NoteRevoked": _Deriver.revoked,
    "NoteSplit": _Deriver.split,
    "NoteTransferred": _Deriver.transferred,
    "NoteFrozen": _Deriver.frozen,
    "NoteUnfrozen": _Deriver.unfrozen,
    "DiscountOffered": _Deriver.offered,
    "DiscountOfferCancelled": _Deriver.offer_cancelled,
    "NoteDiscounted": _Deriver.discounted,
    "NotePaid": _Deriver.paid,
    "PaymentClaimed": _Deriver.claimed,
    "NoteOverdue": _Deriver.overdue,
    "NoteWrittenOff": _Deriver.written_off,
    "MemberSuspended": _Deriver.member,
    "MemberReinstated": _Deriver.member,
    "CreditLimitSet": _Deriver.credit_limit,
    "FinancierWithdrawn": _Deriver.credit_limit,
    "EvidenceRegistered": _Deriver.evidence_registered,
    "EvidenceAttested": _Deriver.attestation,
    "AttestationRevoked": _Deriver.attestation,
    "ReceivableOriginated": _Deriver.receivable_originated,
    "ReceivableConverted": _Deriver.receivable_converted,
}
assert frozenset(_HANDLERS) == PRODUCING


def _chunks(items: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def derive(conn: Connection, batch: AppliedBatch) -> list[EventDraft]:
    """The domain events of `batch`, in chain order (several per contract event in the order a
    reader should see them: the offers a move voids before the move)."""
    events = [e for e in batch.events if e.name in PRODUCING]
    if not events:
        return []
    deriver = _Deriver(conn, batch)
    deriver.preload(events)
    deriver.derive(events)
    deriver.party.complete(conn)
    return deriver.drafts


def derive_domain_events(conn: Connection, batch: AppliedBatch) -> None:
    """The `BatchHook`: append the batch's domain events in its transaction."""
    append_events(conn, derive(conn, batch))
