"""Reconciliation: compare what SQL says with what the chain says, and list every difference.

The chain is read at the index's checkpoint block (not the head), so an index that is merely behind
is not reported as wrong. Read from the chain: every note of every tree (`rootCount`, `treeSize`,
`getNote`, so notes SQL lacks are found too) with what was paid and written off (`paidAmount` and
`paymentClaim` of each matured live or written-off note: nothing can be paid or claimed before
maturity; a settled note's paid amount is its face), every discount offer ever made (`offerCount`,
`getOffer`: open on chain exactly when open in SQL, with the same terms), every member SQL knows
(`getMember`) and the member count, every obligor's `creditOf`, every grant SQL knows (its amount
and whether the obligor approved the financier, both from `creditGrant`), the settlement token of every
currency SQL knows (`settlementToken`), the operator, pending operator, maximum tenor and grace
period; every evidence record, attestation and receivable SQL knows (`getEvidence`, `attestation`,
`receivableInvoice`, the invoice's `documentRoot`, the root's obligor once converted). SQL's
payments must add up to each note's paid amount. Optionally
the logs themselves: the `events` table must hold exactly one row per log of the contract (and of
its evidence registry), in the
block the chain has it in.

The gateway's own tables that name chain objects are checked too: every `note_references` row must
be a root note on chain whose obligor is the member that wrote the reference, and every idempotency
record answered with a 2xx and a transaction hash must name a transaction mined (and not reverted)
on the chain (a reorg that removed it, and nothing told, leaves the record a phantom success).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak
from sqlalchemy import Engine, Table, select
from web3 import Web3
from web3.exceptions import TransactionNotFound

from service.db.gateway_models import ApiMember, IdempotencyRecord, NoteReference
from service.db.models import (
    CreditGrant,
    DiscountOffer,
    Event,
    LedgerConfig,
    Member,
    MinPartAmount,
    Note,
    ObligorCredit,
    Payment,
    PaymentClaim,
    SettlementToken,
)
from service.db.reorg_models import ReorgTransaction
from service.domain import PAYABLE, NoteStatus
from service.indexer.decode import LogDecoder
from service.indexer.progress import ProgressCallback
from service.indexer.ranges import AdaptiveRange
from service.indexer.source import LogSource, RpcError, source_for
from service.indexer.state import EVIDENCE_KINDS, OFFER_OPEN, ZERO_ADDRESS
from service.indexer.store import ATTESTATIONS, EVIDENCE, RECEIVABLES, IndexStore
from service.ledger.artifacts import load_artifact
from service.ledger.client import LedgerClient
from service.ledger.types import EVIDENCE_CONTRACT, LEDGER_CONTRACT

EVIDENCE_DOCUMENT = 2**256 - 1
"""The ledger's `documentRoot` of a hash registered as evidence and not behind a note."""
ATTESTATION_LIVE = 1
ATTESTATION_REVOKED = 2
"""EvidenceRegistry.attestation states (0: never attested)."""

Entity = Literal[
    "note",
    "member",
    "credit",
    "grant",
    "config",
    "checkpoint",
    "event",
    "offer",
    "payment",
    "claim",
    "token",
    "min_part_amount",
    "note_reference",
    "idempotency",
    "evidence_registry",
    "evidence",
    "attestation",
    "receivable",
]

NOTES: Table = Note.__table__  # type: ignore[assignment]
MEMBERS: Table = Member.__table__  # type: ignore[assignment]
CREDIT: Table = ObligorCredit.__table__  # type: ignore[assignment]
GRANTS: Table = CreditGrant.__table__  # type: ignore[assignment]
CONFIG: Table = LedgerConfig.__table__  # type: ignore[assignment]
EVENTS: Table = Event.__table__  # type: ignore[assignment]
OFFERS: Table = DiscountOffer.__table__  # type: ignore[assignment]
PAYMENTS: Table = Payment.__table__  # type: ignore[assignment]
CLAIMS: Table = PaymentClaim.__table__  # type: ignore[assignment]
TOKENS: Table = SettlementToken.__table__  # type: ignore[assignment]
MIN_PARTS: Table = MinPartAmount.__table__  # type: ignore[assignment]
NOTE_REFERENCES: Table = NoteReference.__table__  # type: ignore[assignment]
API_MEMBERS: Table = ApiMember.__table__  # type: ignore[assignment]
IDEMPOTENCY: Table = IdempotencyRecord.__table__  # type: ignore[assignment]
REORG_TRANSACTIONS: Table = ReorgTransaction.__table__  # type: ignore[assignment]

_PAYABLE = tuple(int(s) for s in PAYABLE)
_MAY_HAVE_PAID = (*_PAYABLE, int(NoteStatus.WRITTEN_OFF))


@dataclass(frozen=True)
class Difference:
    """Something SQL and the chain disagree on; `key` names the entity (note id, address, ...)."""

    entity: Entity
    key: str

    def __str__(self) -> str:
        return f"{self.entity} {self.key}: differs"


@dataclass(frozen=True)
class FieldMismatch(Difference):
    """Both sides know the entity, but one of its fields differs."""

    field: str
    sql: Any
    chain: Any

    def __str__(self) -> str:
        return f"{self.entity} {self.key}: {self.field} is {self.sql!r} in SQL, {self.chain!r} on chain"


@dataclass(frozen=True)
class MissingInSql(Difference):
    """The chain has it, SQL does not."""

    def __str__(self) -> str:
        return f"{self.entity} {self.key}: on chain, missing in SQL"


@dataclass(frozen=True)
class MissingOnChain(Difference):
    """SQL has it, the chain does not."""

    def __str__(self) -> str:
        return f"{self.entity} {self.key}: in SQL, not on chain"


@dataclass
class ReconcileReport:
    """The differences found, and what was compared at which block."""

    block: int | None
    differences: list[Difference] = field(default_factory=list)
    notes: int = 0
    members: int = 0
    obligors: int = 0
    grants: int = 0
    offers: int = 0
    claims: int = 0
    tokens: int = 0
    events: int | None = None
    note_references: int = 0
    answered_writes: int = 0
    """Idempotency records answered with a 2xx naming a transaction."""

    @property
    def clean(self) -> bool:
        return not self.differences

    def __iter__(self) -> Iterator[Difference]:
        return iter(self.differences)

    def summary(self) -> str:
        checked = (
            f"{self.notes} notes, {self.members} members, {self.obligors} obligors, {self.grants} grants, "
            f"{self.offers} offers, {self.claims} payment claims, {self.tokens} settlement tokens, "
            f"{self.note_references} note references, {self.answered_writes} answered writes"
            + ("" if self.events is None else f", {self.events} events")
        )
        where = "latest block" if self.block is None else f"block {self.block}"
        return f"compared {checked} at {where}: {len(self.differences)} differences"

    def counts(self) -> dict[str, int | None]:
        """How many of each entity were compared (`events` None: the logs were not compared)."""
        return {
            "notes": self.notes,
            "members": self.members,
            "obligors": self.obligors,
            "grants": self.grants,
            "offers": self.offers,
            "payment_claims": self.claims,
            "settlement_tokens": self.tokens,
            "note_references": self.note_references,
            "answered_writes": self.answered_writes,
            "events": self.events,
        }

    def as_json(self) -> dict[str, Any]:
        """The report as one JSON object: the block, the counts and every difference (values as
        strings, so amounts and ids of any size survive a JSON parser)."""
        return {
            "block": self.block,
            "clean": self.clean,
            "differences_count": len(self.differences),
            "counts": self.counts(),
            "differences": [_difference_json(d) for d in self.differences],
        }


def _difference_json(difference: Difference) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "kind": {
            FieldMismatch: "field_mismatch",
            MissingInSql: "missing_in_sql",
            MissingOnChain: "missing_on_chain",
        }.get(type(difference), "differs"),
        "entity": difference.entity,
        "key": difference.key,
    }
    if isinstance(difference, FieldMismatch):
        entry["field"] = difference.field
        entry["sql"] = _json_value(difference.sql)
        entry["chain"] = _json_value(difference.chain)
    entry["message"] = str(difference)
    return entry


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)


def _optional(address: str) -> str | None:
    return None if address.lower() == ZERO_ADDRESS else address


def _optional_reference(reference: bytes) -> str | None:
    return None if not any(reference) else "0x" + reference.hex()


def claim_digest(amount: int, reference: str) -> bytes:
    """What the ledger stores of a payment claim: keccak256(abi.encode(amount, reference))."""
    return keccak(abi_encode(["uint256", "bytes32"], [amount, bytes.fromhex(reference[2:])]))


class Reconciler:
    """Compares one contract's index with the chain."""

    def __init__(self, w3: Web3, engine: Engine, contract: str, *, source: LogSource | None = None) -> None:
        self.w3 = w3
        self.engine = engine
        self.contract = Web3.to_checksum_address(contract)
        self.source = source if source is not None else source_for(w3)
        self.store = IndexStore(engine, self.contract)
        self._progress: ProgressCallback | None = None

    def _report(self, task: str, done: int, total: int) -> None:
        if self._progress is not None:
            self._progress(task, done, total)

    def _ledger_at(self, block: int | None) -> LedgerClient:
        """A client whose view calls read the state at `block`."""
        pinned = Web3(self.w3.provider)
        if block is not None:
            pinned.eth.default_block = block
        return LedgerClient(pinned, self.contract)

    def run(
        self,
        *,
        at_block: int | None = None,
        check_events: bool = True,
        from_block: int = 0,
        progress: ProgressCallback | None = None,
    ) -> ReconcileReport:
        """Compare SQL with the chain at `at_block` (default: the checkpoint block);
        `progress("notes", done, total)` as the chain's notes are compared, then
        `progress("event blocks", done, total)` as its logs are."""
        self._progress = progress
        checkpoint = self.store.checkpoint()
        if at_block is None and checkpoint is not None:
            at_block = checkpoint.last_block
        report = ReconcileReport(block=at_block)
        diffs = report.differences
        if checkpoint is not None and checkpoint.last_block_hash:
            header = self.source.get_headers([checkpoint.last_block]).get(checkpoint.last_block)
            chain_hash = None if header is None else header.hash
            if chain_hash != checkpoint.last_block_hash:
                diffs.append(
                    FieldMismatch(
                        "checkpoint",
                        str(checkpoint.last_block),
                        "hash",
                        checkpoint.last_block_hash,
                        chain_hash,
                    )
                )
        ledger = self._ledger_at(at_block)
        with self.engine.connect() as conn:
            notes = {row["id"]: dict(row) for row in conn.execute(select(NOTES)).mappings()}
            members = {row["address"]: dict(row) for row in conn.execute(select(MEMBERS)).mappings()}
            credit = {row["obligor"]: dict(row) for row in conn.execute(select(CREDIT)).mappings()}
            grants = [dict(row) for row in conn.execute(select(GRANTS)).mappings()]
            config = conn.execute(select(CONFIG).where(CONFIG.c.contract == self.contract)).mappings().first()
            offers = {row["id"]: dict(row) for row in conn.execute(select(OFFERS)).mappings()}
            claims = {row["note_id"]: dict(row) for row in conn.execute(select(CLAIMS)).mappings()}
            tokens = {row["currency"]: row["token"] for row in conn.execute(select(TOKENS)).mappings()}
            min_parts = {row["currency"]: row["amount"] for row in conn.execute(select(MIN_PARTS)).mappings()}
            paid: dict[int, int] = {}
            for note_id, amount in conn.execute(select(PAYMENTS.c.note_id, PAYMENTS.c.amount)):
                paid[note_id] = paid.get(note_id, 0) + amount  # in Python: exact on SQLite too
        now = self._block_time(at_block)
        self._notes(ledger, notes, paid, claims, now, report)
        self._offers(ledger, offers, report)
        self._members(ledger, members, report)
        self._credit(ledger, credit, {n["obligor"] for n in notes.values()}, grants, report)
        self._config(ledger, None if config is None else dict(config), report)
        self._tokens(ledger, tokens, {n["currency"] for n in notes.values()}, report)
        self._min_parts(ledger, min_parts, {n["currency"] for n in notes.values()} | set(tokens), report)
        self._evidence(ledger, report)
        self._note_references(ledger, report)
        self._answered_writes(report)
        if check_events:
            self._events(from_block, at_block, report)
        return report

    def _block_time(self, block: int | None) -> int | None:
        """Timestamp of `block` (default: the latest); None if the node does not have it."""
        number = block if block is not None else self.source.block_number()
        header = self.source.get_headers([number]).get(number)
        return None if header is None else header.timestamp

    # ------------------------------------------------------------------ parts
    def _notes(
        self,
        ledger: LedgerClient,
        notes: dict[int, dict[str, Any]],
        paid: dict[int, int],
        claims: dict[int, dict[str, Any]],
        now: int | None,
        report: ReconcileReport,
    ) -> None:
        chain_ids: list[int] = []
        for seq in range(1, ledger.root_count() + 1):
            root_id = seq << 32
            chain_ids.extend(range(root_id, root_id + ledger.tree_size(root_id)))
        report.notes = len(chain_ids)
        on_chain = set(chain_ids)
        for done, note_id in enumerate(chain_ids, 1):
            self._report("notes", done - 1, len(chain_ids))
            row = notes.get(note_id)
            if row is None:
                report.differences.append(MissingInSql("note", str(note_id)))
                continue
            state = ledger.get_note(note_id)
            expected = {
                "holder": state.holder,
                "obligor": state.obligor,
                "amount": state.amount,
                "currency": state.currency,
                "maturity": state.maturity,
                "status": int(state.status),
                "frozen": state.frozen,
                "root_id": state.root_id,
                "document_hash": "0x" + state.document_hash.hex(),
            }
            status = int(state.status)
            matured = now is None or now >= state.maturity
            # Nothing is paid (or claimed) before maturity; a settled note was paid in full (the
            # ledger then forgets `paidAmount`); a written-off note keeps what was paid before.
            if status == NoteStatus.SETTLED:
                chain_paid = state.amount
            elif status in _MAY_HAVE_PAID and matured:
                chain_paid = ledger.paid_amount(note_id)
            else:
                chain_paid = 0
            expected["paid_amount"] = chain_paid
            expected["written_off_amount"] = (
                state.amount - chain_paid if status == NoteStatus.WRITTEN_OFF else 0
            )
            for name, chain_value in expected.items():
                if row[name] != chain_value:
                    report.differences.append(
                        FieldMismatch("note", str(note_id), name, row[name], chain_value)
                    )
            payments = paid.get(note_id, 0)
            if payments != chain_paid:
                report.differences.append(
                    FieldMismatch("payment", str(note_id), "total", payments, chain_paid)
                )
            unclaimed_in_sql = status in _PAYABLE and matured and note_id not in claims
            if unclaimed_in_sql and any(ledger.payment_claim(note_id)):
                report.differences.append(MissingInSql("claim", str(note_id)))
        self._report("notes", len(chain_ids), len(chain_ids))
        for note_id in sorted(set(notes) - on_chain):
            report.differences.append(MissingOnChain("note", str(note_id)))
        for note_id in sorted(set(paid) - on_chain):
            report.differences.append(MissingOnChain("payment", str(note_id)))
        report.claims = len(claims)
        for note_id, claim in sorted(claims.items()):
            chain_claim = ledger.payment_claim(note_id)
            if not any(chain_claim):
                report.differences.append(MissingOnChain("claim", str(note_id)))
            elif chain_claim != claim_digest(claim["amount"], claim["payment_reference"]):
                report.differences.append(
                    FieldMismatch(
                        "claim",
                        str(note_id),
                        "amount, payment_reference",
                        (claim["amount"], claim["payment_reference"]),
                        "0x" + chain_claim.hex(),
                    )
                )

    def _offers(
        self, ledger: LedgerClient, offers: dict[int, dict[str, Any]], report: ReconcileReport
    ) -> None:
        """Every offer ever made is in SQL; open exactly when open on chain, with the same terms
        (the chain forgets closed offers, so their terms cannot be compared)."""
        count = ledger.offer_count()
        report.offers = count
        for offer_id in range(1, count + 1):
            row = offers.get(offer_id)
            if row is None:
                report.differences.append(MissingInSql("offer", str(offer_id)))
                continue
            state = ledger.get_offer(offer_id)
            chain_open = int(state.financier, 16) != 0
            if not chain_open:
                if row["status"] == OFFER_OPEN:
                    report.differences.append(
                        FieldMismatch("offer", str(offer_id), "status", OFFER_OPEN, "closed")
                    )
                continue
            expected = {
                "status": OFFER_OPEN,
                "note_id": state.note_id,
                "financier": state.financier,
                "holder": state.holder,
                "price": state.price,
                "deadline": state.deadline,
                "off_chain": state.off_chain,
                "payment_reference": _optional_reference(state.payment_reference),
            }
            for name, chain_value in expected.items():
                if row[name] != chain_value:
                    report.differences.append(
                        FieldMismatch("offer", str(offer_id), name, row[name], chain_value)
                    )
        for offer_id in sorted(offer_id for offer_id in offers if not 1 <= offer_id <= count):
            report.differences.append(MissingOnChain("offer", str(offer_id)))

    def _note_references(self, ledger: LedgerClient, report: ReconcileReport) -> None:
        """Every off-chain reference belongs to a root note on chain issued by the member that
        wrote it (a reference left behind by a reorg would be inherited by the next note that gets
        the same id)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(NOTE_REFERENCES.c.note_id, API_MEMBERS.c.address).join_from(
                    NOTE_REFERENCES,
                    API_MEMBERS,
                    API_MEMBERS.c.id == NOTE_REFERENCES.c.created_by,
                    isouter=True,
                )
            ).all()
        report.note_references = len(rows)
        for note_id, writer in rows:
            state = ledger.get_note(note_id)
            if int(state.status) == NoteStatus.NONE or state.root_id != note_id:
                report.differences.append(MissingOnChain("note_reference", str(note_id)))
            elif writer is None or writer.lower() != state.obligor.lower():
                report.differences.append(
                    FieldMismatch("note_reference", str(note_id), "obligor", writer, state.obligor)
                )

    def _answered_writes(self, report: ReconcileReport) -> None:
        """Every write the gateway answered with a 2xx and a transaction hash (and replays to
        retries) names a transaction the chain has mined, and not reverted; or one that the
        reorganisation journal lists as removed (its replays answer `reverted-by-reorg`)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(IDEMPOTENCY.c.member_id, IDEMPOTENCY.c.key, IDEMPOTENCY.c.response_body).where(
                    IDEMPOTENCY.c.status_code >= 200, IDEMPOTENCY.c.status_code < 300
                )
            ).all()
            removed = set(conn.execute(select(REORG_TRANSACTIONS.c.tx_hash)).scalars())
        removed = {h.lower() for h in removed}
        for member_id, key, body in rows:
            tx_hash = body.get("tx_hash") if isinstance(body, dict) else None
            if not isinstance(tx_hash, str):
                continue
            if tx_hash.lower() in removed:
                try:
                    self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
                except TransactionNotFound:
                    report.answered_writes += 1  # told: its replays answer reverted-by-reorg
                    continue
            report.answered_writes += 1
            where = f"{member_id}/{key} {tx_hash}"
            try:
                receipt = self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
            except TransactionNotFound:
                report.differences.append(MissingOnChain("idempotency", where))
                continue
            if receipt["status"] != 1:
                report.differences.append(FieldMismatch("idempotency", where, "status", 1, receipt["status"]))

    def _tokens(
        self, ledger: LedgerClient, tokens: dict[str, str], note_currencies: set[str], report: ReconcileReport
    ) -> None:
        currencies = sorted(set(tokens) | note_currencies)
        report.tokens = len(tokens)
        for currency in currencies:
            chain_token = _optional(ledger.settlement_token(currency))
            sql_token = tokens.get(currency)
            if sql_token == chain_token:
                continue
            if sql_token is None:
                report.differences.append(MissingInSql("token", currency))
            elif chain_token is None:
                report.differences.append(MissingOnChain("token", currency))
            else:
                report.differences.append(FieldMismatch("token", currency, "token", sql_token, chain_token))

    def _min_parts(
        self, ledger: LedgerClient, min_parts: dict[str, int], currencies: set[str], report: ReconcileReport
    ) -> None:
        """The minimum part amount of every currency SQL knows (a row, a note or a token): a
        currency without a row has none (0)."""
        for currency in sorted(set(min_parts) | currencies):
            chain_amount = ledger.min_part_amount(currency)
            sql_amount = min_parts.get(currency)
            if sql_amount is None and chain_amount != 0:
                report.differences.append(MissingInSql("min_part_amount", currency))
            elif sql_amount is not None and sql_amount != chain_amount:
                report.differences.append(
                    FieldMismatch("min_part_amount", currency, "amount", sql_amount, chain_amount)
                )

    def _members(
        self, ledger: LedgerClient, members: dict[str, dict[str, Any]], report: ReconcileReport
    ) -> None:
        report.members = len(members)
        for address, row in sorted(members.items()):
            state = ledger.get_member(address)
            if int(state.status) == 0:
                report.differences.append(MissingOnChain("member", address))
                continue
            for name, chain_value in (("roles", int(state.roles)), ("status", int(state.status))):
                if row[name] != chain_value:
                    report.differences.append(FieldMismatch("member", address, name, row[name], chain_value))
        count = ledger.member_count()
        if count != len(members):
            report.differences.append(FieldMismatch("member", "*", "count", len(members), count))

    def _credit(
        self,
        ledger: LedgerClient,
        credit: dict[str, dict[str, Any]],
        note_obligors: set[str],
        grants: list[dict[str, Any]],
        report: ReconcileReport,
    ) -> None:
        obligors = sorted(set(credit) | note_obligors)
        report.obligors = len(obligors)
        for obligor in obligors:
            limit, outstanding = ledger.credit_of(obligor)
            row = credit.get(obligor)
            if row is None:
                if limit or outstanding:
                    report.differences.append(MissingInSql("credit", obligor))
                continue
            for name, chain_value in (("credit_limit", limit), ("outstanding", outstanding)):
                if row[name] != chain_value:
                    report.differences.append(FieldMismatch("credit", obligor, name, row[name], chain_value))
        report.grants = len(grants)
        for grant in grants:
            key = f"{grant['financier']}->{grant['obligor']}"
            chain_amount = ledger.credit_grant(grant["financier"], grant["obligor"])
            if grant["amount"] != chain_amount:
                report.differences.append(
                    FieldMismatch("grant", key, "amount", grant["amount"], chain_amount)
                )
            chain_approved = ledger.financier_approved(grant["obligor"], grant["financier"])
            if bool(grant["approved"]) != chain_approved:
                report.differences.append(
                    FieldMismatch("grant", key, "approved", bool(grant["approved"]), chain_approved)
                )

    def _evidence(self, ledger: LedgerClient, report: ReconcileReport) -> None:
        """Every evidence record, attestation and receivable SQL knows against the EvidenceRegistry
        (records SQL lacks are found by the event check: each has its EvidenceRegistered log)."""
        with self.engine.connect() as conn:
            records = [dict(r) for r in conn.execute(select(EVIDENCE)).mappings()]
            attestations = [dict(r) for r in conn.execute(select(ATTESTATIONS)).mappings()]
            receivables = [dict(r) for r in conn.execute(select(RECEIVABLES)).mappings()]
        if not (records or attestations or receivables):
            return
        if int(ledger.evidence_registry(), 16) == 0:
            report.differences.append(MissingOnChain("evidence_registry", self.contract))
            return
        registry = ledger.evidence
        diffs = report.differences
        for row in records:
            key = row["doc_hash"]
            chain = registry.get_evidence(bytes.fromhex(key[2:]))
            if int(chain.supplier, 16) == 0:
                diffs.append(MissingOnChain("evidence", key))
                continue
            used_by = ledger.document_root(bytes.fromhex(key[2:]))
            expected = {
                "supplier": chain.supplier,
                "buyer": chain.buyer,
                "kind": EVIDENCE_KINDS[int(chain.kind)],
                "currency": chain.currency or None,
                "amount": chain.amount,
                "attester_count": chain.attesters,
                "financed_note_id": None if used_by in (0, EVIDENCE_DOCUMENT) else used_by,
            }
            for name, chain_value in expected.items():
                if row[name] != chain_value:
                    diffs.append(FieldMismatch("evidence", key, name, row[name], chain_value))
        for row in attestations:
            key = f"{row['doc_hash']}:{row['attester']}"
            chain_state = registry.attestation(bytes.fromhex(row["doc_hash"][2:]), row["attester"])
            sql_state = ATTESTATION_LIVE if row["revoked_block"] is None else ATTESTATION_REVOKED
            if chain_state == 0:
                diffs.append(MissingOnChain("attestation", key))
            elif chain_state != sql_state:
                diffs.append(FieldMismatch("attestation", key, "state", sql_state, chain_state))
        for row in receivables:
            key = str(row["note_id"])
            invoice = "0x" + registry.receivable_invoice(int(row["note_id"])).hex()
            if int(invoice, 16) == 0:
                diffs.append(MissingOnChain("receivable", key))
                continue
            if invoice != row["invoice_hash"]:
                diffs.append(FieldMismatch("receivable", key, "invoice_hash", row["invoice_hash"], invoice))
            obligor = ledger.get_note(int(row["note_id"])).obligor
            converted = obligor == row["buyer"]
            if (row["converted_block"] is not None) != converted:
                diffs.append(
                    FieldMismatch(
                        "receivable", key, "converted", row["converted_block"] is not None, converted
                    )
                )

    def _config(self, ledger: LedgerClient, config: dict[str, Any] | None, report: ReconcileReport) -> None:
        if config is None:
            report.differences.append(MissingInSql("config", self.contract))
            return
        expected = {
            "operator": _optional(ledger.operator()),
            "pending_operator": _optional(ledger.pending_operator()),
            "max_tenor": ledger.max_tenor(),
            "grace_period": ledger.grace_period(),
        }
        for name, chain_value in expected.items():
            if config[name] != chain_value:
                report.differences.append(
                    FieldMismatch("config", self.contract, name, config[name], chain_value)
                )

    def _events(self, from_block: int, at_block: int | None, report: ReconcileReport) -> None:
        to_block = at_block if at_block is not None else self.source.block_number()
        decoder = LogDecoder(load_artifact(LEDGER_CONTRACT).abi, self.contract)
        registry = _optional(self._ledger_at(at_block).evidence_registry())
        if registry is not None:
            decoder.add_contract(load_artifact(EVIDENCE_CONTRACT).abi, registry)
        chain: dict[tuple[str, int], str] = {}
        ranges = AdaptiveRange(size=10_000, maximum=1_000_000)
        start = from_block
        blocks = max(0, to_block - from_block + 1)
        self._report("event blocks", 0, blocks)
        while start <= to_block:
            end = min(start + ranges.size - 1, to_block)
            try:
                logs = self.source.get_logs(self.contract, start, end)
                if registry is not None:
                    logs = logs + self.source.get_logs(registry, start, end)
            except RpcError as exc:
                ranges.failed(exc, end - start + 1)
                continue
            ranges.succeeded(end - start + 1, len(logs))
            for log in logs:
                event = decoder.decode(log)
                if event is not None:
                    chain[(event.tx_hash, event.log_index)] = event.block_hash
            start = end + 1
            self._report("event blocks", start - from_block, blocks)
        with self.engine.connect() as conn:
            stmt = select(EVENTS.c.tx_hash, EVENTS.c.log_index, EVENTS.c.block_hash).where(
                EVENTS.c.contract == self.contract, EVENTS.c.block_number >= from_block
            )
            if at_block is not None:
                stmt = stmt.where(EVENTS.c.block_number <= at_block)
            stored = {(tx, int(index)): block_hash for tx, index, block_hash in conn.execute(stmt)}
        report.events = len(chain)
        for key in sorted(set(chain) - set(stored)):
            report.differences.append(MissingInSql("event", f"{key[0]}:{key[1]}"))
        for key in sorted(set(stored) - set(chain)):
            report.differences.append(MissingOnChain("event", f"{key[0]}:{key[1]}"))
        for key in sorted(set(chain) & set(stored)):
            if chain[key] != stored[key]:
                report.differences.append(
                    FieldMismatch("event", f"{key[0]}:{key[1]}", "block_hash", stored[key], chain[key])
                )


def reconcile(
    w3: Web3,
    engine: Engine,
    contract: str,
    *,
    at_block: int | None = None,
    check_events: bool = True,
    from_block: int = 0,
    progress: ProgressCallback | None = None,
) -> ReconcileReport:
    """Every difference between the index of `contract` in `engine` and the chain behind `w3`."""
    return Reconciler(w3, engine, contract).run(
        at_block=at_block, check_events=check_events, from_block=from_block, progress=progress
    )
