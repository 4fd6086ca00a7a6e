"""A pure-Python model of the CreditNoteLedger and its settlement tokens: what every operation should
do, or which custom error it should raise, checked in the same order as the contracts check."""

from __future__ import annotations

from dataclasses import dataclass, field

from service.domain import (
    DEFAULT_GRACE_PERIOD,
    MAX_AMOUNT,
    MAX_SETTLE_BATCH,
    MAX_SPLIT_PARTS,
    MemberStatus,
    NoteStatus,
    Role,
)

HOLDER_ROLES = Role.SUPPLIER | Role.FINANCIER
OBLIGOR_ROLES = Role.CORE_ENTERPRISE | Role.SUPPLIER
EVIDENCE_DOCUMENT = 2**256 - 1
"""The ledger's `documentRoot` of a hash registered as evidence, not behind a note."""
INVOICE = 3
MAX_SUPPORTING = 8
MAX_EVIDENCE_AMOUNT = 2**96 - 1
INDEX_MASK = (1 << 32) - 1
MAX_GRACE_PERIOD = 90 * 86_400
MAX_UINT256 = 2**256 - 1
PAYABLE = (NoteStatus.ACTIVE, NoteStatus.OVERDUE)


class Refused(Exception):
    """The model's prediction that the ledger refuses an operation with custom error `name`."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@dataclass
class ModelMember:
    roles: Role
    status: MemberStatus = MemberStatus.ACTIVE


@dataclass
class ModelNote:
    holder: str
    amount: int
    status: NoteStatus
    root_id: int
    parent_id: int | None
    frozen: bool = False
    paid: int = 0
    """Total paid on the note so far (tokens and confirmed off-chain payments); == amount once settled."""
    written_off: int = 0

    @property
    def remaining(self) -> int:
        return self.amount - self.paid


@dataclass
class ModelEvidence:
    """A trade record of the EvidenceRegistry; `attestations` maps attesters to 1 (live) or 2
    (revoked)."""

    supplier: str
    buyer: str
    kind: int
    currency: str
    amount: int
    attestations: dict[str, int] = field(default_factory=dict)

    @property
    def attesters(self) -> int:
        return sum(1 for state in self.attestations.values() if state == 1)


@dataclass
class ModelRoot:
    obligor: str
    face: int
    maturity: int
    document: bytes
    currency: str = "USD"
    last_index: int = 0


@dataclass
class ModelOffer:
    note_id: int
    financier: str
    holder: str
    price: int
    deadline: int
    off_chain: bool
    epoch: int
    """The note's offer epoch when the offer was made: the offer is void once the note's moves on."""
    reference: bytes | None = None
    open: bool = True


@dataclass
class ModelToken:
    """A settlement token: balances, allowances to the ledger, and what was ever minted and burned."""

    address: str
    currency: str
    registered: bool = False
    balances: dict[str, int] = field(default_factory=dict)
    allowances: dict[str, int] = field(default_factory=dict)
    minted: int = 0
    burned: int = 0
    # Settlement-bank references of deposits and withdrawals: each usable once (one namespace).
    references: set[bytes] = field(default_factory=set)

    def move(self, source: str, to: str, amount: int) -> None:
        if self.balances.get(source, 0) < amount:
            raise Refused("ERC20InsufficientBalance")
        self.balances[source] -= amount
        self.balances[to] = self.balances.get(to, 0) + amount


@dataclass
class LedgerModel:
    operator: str
    members: dict[str, ModelMember] = field(default_factory=dict)
    notes: dict[int, ModelNote] = field(default_factory=dict)
    roots: dict[int, ModelRoot] = field(default_factory=dict)
    limits: dict[str, int] = field(default_factory=dict)
    outstanding: dict[str, int] = field(default_factory=dict)
    document_root: dict[bytes, int] = field(default_factory=dict)
    root_count: int = 0
    tokens: dict[str, ModelToken] = field(default_factory=dict)
    """Settlement tokens by currency (deployed, registered with the ledger or not)."""
    offers: dict[int, ModelOffer] = field(default_factory=dict)
    offer_count: int = 0
    claims: dict[int, tuple[int, bytes]] = field(default_factory=dict)
    """The obligor's pending off-chain payment claim per note: (amount, reference)."""
    grace_period: int = DEFAULT_GRACE_PERIOD
    min_part: dict[str, int] = field(default_factory=dict)
    """The operator's minimum part amount per currency (absent: 0, no minimum)."""
    offer_epochs: dict[int, int] = field(default_factory=dict)
    """Per note: 0 until an offer is made on it, then bumped whenever it changes hands or is frozen."""
    grants: dict[tuple[str, str], int] = field(default_factory=dict)
    """(financier, obligor) -> the financier's grant."""
    approved: set[tuple[str, str]] = field(default_factory=set)
    """(financier, obligor) pairs the obligor has approved (and not withdrawn)."""
    evidence: dict[bytes, ModelEvidence] = field(default_factory=dict)
    receivables: dict[int, bytes] = field(default_factory=dict)
    """Root id of each evidence-backed receivable -> its invoice."""

    # ------------------------------------------------------------------ checks, contract order
    def require_active(self, account: str, any_of: Role) -> None:
        member = self.members.get(account)
        if member is None:
            raise Refused("NotAMember")
        if member.status != MemberStatus.ACTIVE:
            raise Refused("MemberNotActive")
        if not member.roles & any_of:
            raise Refused("MissingRole")

    def is_active_member(self, account: str) -> bool:
        member = self.members.get(account)
        return member is not None and member.status == MemberStatus.ACTIVE

    def _only_operator(self, sender: str) -> None:
        if sender != self.operator:
            raise Refused("NotOperator")

    def _existing(self, note_id: int) -> ModelNote:
        note = self.notes.get(note_id)
        if note is None:
            raise Refused("NoteNotFound")
        return note

    def _pending(self, note_id: int) -> ModelNote:
        note = self._existing(note_id)
        if note.status != NoteStatus.PENDING:
            raise Refused("NoteNotPending")
        if note.frozen:
            raise Refused("NoteIsFrozen")
        return note

    def _movable(self, note_id: int, sender: str) -> ModelNote:
        note = self._existing(note_id)
        if note.status != NoteStatus.ACTIVE:
            raise Refused("NoteNotActive")
        if note.frozen:
            raise Refused("NoteIsFrozen")
        if note.holder != sender:
            raise Refused("NotHolder")
        self.require_active(sender, HOLDER_ROLES)
        return note

    def _not_matured(self, note: ModelNote, now: int) -> None:
        if now >= self.roots[note.root_id].maturity:
            raise Refused("NoteMatured")

    def _payable(self, sender: str, note_id: int, amount: int, now: int) -> ModelNote:
        note = self._existing(note_id)
        if note.status not in PAYABLE:
            raise Refused("NoteNotPayable")
        if note.frozen:
            raise Refused("NoteIsFrozen")
        root = self.roots[note.root_id]
        if root.obligor != sender:
            raise Refused("NotObligor")
        if now < root.maturity:
            raise Refused("NoteNotMatured")
        if amount == 0:
            raise Refused("ZeroAmount")
        if amount > note.remaining:
            raise Refused("PaymentTooLarge")
        return note

    def _void_offers(self, note_id: int) -> None:
        if self.offer_epochs.get(note_id, 0):
            self.offer_epochs[note_id] += 1

    def _token_of(self, currency: str) -> ModelToken:
        token = self.tokens.get(currency)
        if token is None or not token.registered:
            raise Refused("SettlementTokenNotSet")
        return token

    def _overdue_at(self, note: ModelNote) -> int:
        return self.roots[note.root_id].maturity + self.grace_period

    def _apply_payment(self, note: ModelNote, amount: int) -> None:
        """Pay `amount` of the note's remainder (settling it when it is all of it) and free the credit."""
        if amount == note.remaining:
            note.status = NoteStatus.SETTLED
        note.paid += amount
        self.outstanding[self.roots[note.root_id].obligor] -= amount

    def _ledger_transfer_from(self, token: ModelToken, owner: str, to: str, amount: int) -> None:
        """The ledger's `transferFrom(owner, to, amount)`: allowance first, then balance (no member
        check: the ledger is the caller)."""
        allowance = token.allowances.get(owner, 0)
        if allowance != MAX_UINT256:
            if allowance < amount:
                raise Refused("ERC20InsufficientAllowance")
            token.allowances[owner] = allowance - amount
        token.move(owner, to, amount)

    # ------------------------------------------------------------------ notes
    # ------------------------------------------------------------------ credit relationships
    def set_credit_limit(self, sender: str, obligor: str, grant: int) -> None:
        self.require_active(sender, Role.FINANCIER)
        if obligor == sender:
            raise Refused("SelfDealing")
        member = self.members.get(obligor)
        if member is None:
            raise Refused("NotAMember")
        if not member.roles & OBLIGOR_ROLES:
            raise Refused("MissingRole")
        if (sender, obligor) not in self.approved:
            raise Refused("FinancierNotApproved")
        limit = self.limits.get(obligor, 0) - self.grants.get((sender, obligor), 0) + grant
        if limit >= 2**128:
            raise Refused("CreditLimitTooLarge")
        self.limits[obligor] = limit
        self.grants[(sender, obligor)] = grant

    def mark_financier_approved(self, sender: str, financier: str, approved: bool) -> None:
        """The obligor `sender` (active) approves `financier`, or withdraws its approval (the grant
        leaves the limit at once; outstanding may then exceed the limit)."""
        key = (financier, sender)
        self.require_active(sender, OBLIGOR_ROLES)
        if approved:
            if financier == sender:
                raise Refused("SelfDealing")
            self.require_active(financier, Role.FINANCIER)
            if key in self.approved:
                raise Refused("FinancierAlreadyApproved")
            self.approved.add(key)
            return
        if key not in self.approved:
            raise Refused("FinancierNotApproved")
        self.approved.discard(key)
        self.limits[sender] = self.limits.get(sender, 0) - self.grants.pop(key, 0)

    def issue(
        self,
        sender: str,
        to: str,
        amount: int,
        maturity: int,
        document: bytes,
        now: int,
        currency: str = "USD",
    ) -> int:
        self.require_active(sender, Role.CORE_ENTERPRISE)
        if to == sender:
            raise Refused("SelfDealing")
        self.require_active(to, Role.SUPPLIER)
        if amount == 0:
            raise Refused("ZeroAmount")
        if amount > MAX_AMOUNT:
            raise Refused("AmountTooLarge")
        if amount < self.min_part.get(currency, 0):
            raise Refused("AmountBelowMinimum")
        if maturity <= now or maturity > now + 365 * 86_400:
            raise Refused("InvalidMaturity")
        if document in self.document_root:
            if self.document_root[document] == EVIDENCE_DOCUMENT:
                raise Refused("DocumentIsEvidence")
            raise Refused("DocumentAlreadyUsed")
        if self.outstanding.get(sender, 0) + amount > self.limits.get(sender, 0):
            raise Refused("CreditLimitExceeded")
        self.outstanding[sender] = self.outstanding.get(sender, 0) + amount
        self.root_count += 1
        root_id = self.root_count << 32
        self.roots[root_id] = ModelRoot(
            obligor=sender, face=amount, maturity=maturity, document=document, currency=currency
        )
        self.notes[root_id] = ModelNote(
            holder=to, amount=amount, status=NoteStatus.PENDING, root_id=root_id, parent_id=None
        )
        self.document_root[document] = root_id
        return root_id

    def accept(self, sender: str, note_id: int, now: int) -> None:
        note = self._pending(note_id)
        if note.holder != sender:
            raise Refused("NotHolder")
        self.require_active(sender, Role.SUPPLIER)
        self._not_matured(note, now)
        note.status = NoteStatus.ACTIVE

    def _release(self, note: ModelNote) -> None:
        root = self.roots[note.root_id]
        self.outstanding[root.obligor] -= note.amount
        del self.document_root[root.document]

    def reject(self, sender: str, note_id: int) -> None:
        note = self._pending(note_id)
        if note.holder != sender:
            raise Refused("NotHolder")
        self.require_active(sender, Role.SUPPLIER)
        note.status = NoteStatus.REJECTED
        self._release(note)

    def revoke(self, sender: str, note_id: int) -> None:
        note = self._pending(note_id)
        if self.roots[note.root_id].obligor != sender:
            raise Refused("NotObligor")
        self.require_active(sender, Role.CORE_ENTERPRISE)
        note.status = NoteStatus.REVOKED
        self._release(note)

    def split(self, sender: str, note_id: int, parts: list[tuple[str, int]], now: int) -> list[int]:
        if not 2 <= len(parts) <= MAX_SPLIT_PARTS:
            raise Refused("InvalidPartCount")
        note = self._movable(note_id, sender)
        self._not_matured(note, now)
        minimum = self.min_part.get(self.roots[note.root_id].currency, 0)
        for to, amount in parts:
            if amount == 0:
                raise Refused("ZeroAmount")
            if amount < minimum:
                raise Refused("AmountBelowMinimum")
            if amount > MAX_AMOUNT:
                raise Refused("AmountTooLarge")
            if to != sender:
                self.require_active(to, HOLDER_ROLES)
        if sum(amount for _, amount in parts) != note.amount:
            raise Refused("AmountsDoNotSum")
        note.status = NoteStatus.SPLIT
        root = self.roots[note.root_id]
        children = []
        for to, amount in parts:
            root.last_index += 1
            child_id = note.root_id | root.last_index
            self.notes[child_id] = ModelNote(
                holder=to, amount=amount, status=NoteStatus.ACTIVE, root_id=note.root_id, parent_id=note_id
            )
            children.append(child_id)
        return children

    def transfer(self, sender: str, note_id: int, to: str, now: int) -> None:
        note = self._movable(note_id, sender)
        if to == sender:
            raise Refused("SelfDealing")
        self.require_active(to, HOLDER_ROLES)
        self._not_matured(note, now)
        note.holder = to
        self._void_offers(note_id)

    def freeze(self, sender: str, note_id: int) -> None:
        self._only_operator(sender)
        note = self._existing(note_id)
        if not note.status.is_live:
            raise Refused("NoteNotLive")
        if note.frozen:
            raise Refused("NoteIsFrozen")
        note.frozen = True
        self._void_offers(note_id)

    def unfreeze(self, sender: str, note_id: int) -> None:
        self._only_operator(sender)
        note = self._existing(note_id)
        if not note.frozen:
            raise Refused("NoteNotFrozen")
        if not note.status.is_live:
            raise Refused("NoteNotLive")
        note.frozen = False

    # ------------------------------------------------------------------ members
    def suspend(self, sender: str, account: str) -> None:
        self._only_operator(sender)
        member = self.members.get(account)
        if member is None:
            raise Refused("NotAMember")
        if member.status != MemberStatus.ACTIVE:
            raise Refused("MemberNotActive")
        member.status = MemberStatus.SUSPENDED

    def reinstate(self, sender: str, account: str) -> None:
        self._only_operator(sender)
        member = self.members.get(account)
        if member is None:
            raise Refused("NotAMember")
        if member.status != MemberStatus.SUSPENDED:
            raise Refused("MemberNotSuspended")
        member.status = MemberStatus.ACTIVE

    # ------------------------------------------------------------------ configuration
    def set_grace_period(self, sender: str, period: int) -> None:
        self._only_operator(sender)
        if period > MAX_GRACE_PERIOD:
            raise Refused("InvalidGracePeriod")
        self.grace_period = period

    def set_min_part_amount(self, sender: str, currency: str, amount: int) -> None:
        self._only_operator(sender)
        if amount > MAX_AMOUNT:
            raise Refused("AmountTooLarge")
        self.min_part[currency] = amount

    def register_token(self, sender: str, currency: str, token_address: str) -> None:
        self._only_operator(sender)
        current = self.tokens.get(currency)
        if current is not None and current.registered:
            raise Refused("SettlementTokenAlreadySet")
        if current is None or current.address != token_address:
            raise Refused("SettlementTokenMismatch")
        current.registered = True

    # ------------------------------------------------------------------ settlement tokens
    def mint(self, sender: str, currency: str, to: str, amount: int, reference: bytes) -> None:
        token = self.tokens[currency]
        self._only_operator(sender)
        if not reference.strip(b"\0"):
            raise Refused("ZeroReference")
        if reference in token.references:
            raise Refused("ReferenceAlreadyUsed")
        if not self.is_active_member(to):
            raise Refused("NotAnActiveMember")
        token.references.add(reference)
        token.balances[to] = token.balances.get(to, 0) + amount
        token.minted += amount

    def burn(self, sender: str, currency: str, account: str, amount: int, reference: bytes) -> None:
        token = self.tokens[currency]
        self._only_operator(sender)
        if not reference.strip(b"\0"):
            raise Refused("ZeroReference")
        if reference in token.references:
            raise Refused("ReferenceAlreadyUsed")
        if token.balances.get(account, 0) < amount:
            raise Refused("ERC20InsufficientBalance")
        token.references.add(reference)
        token.balances[account] -= amount
        token.burned += amount

    def token_transfer(self, sender: str, currency: str, to: str, amount: int) -> None:
        token = self.tokens[currency]
        if not self.is_active_member(sender) or not self.is_active_member(to):
            raise Refused("NotAnActiveMember")
        token.move(sender, to, amount)

    def approve(self, sender: str, currency: str, amount: int) -> None:
        """Approve the ledger to move `amount` of the sender's tokens (anyone may approve)."""
        self.tokens[currency].allowances[sender] = amount

    # ------------------------------------------------------------------ discount
    def offer_discount(
        self, sender: str, note_id: int, price: int, deadline: int, off_chain: bool, now: int
    ) -> int:
        self.require_active(sender, Role.FINANCIER)
        note = self._existing(note_id)
        if note.status != NoteStatus.ACTIVE:
            raise Refused("NoteNotActive")
        if note.frozen:
            raise Refused("NoteIsFrozen")
        if note.holder == sender:
            raise Refused("SelfDealing")
        self._not_matured(note, now)
        if price == 0 or price > note.amount:
            raise Refused("InvalidPrice")
        root = self.roots[note.root_id]
        if deadline <= now or deadline >= root.maturity:
            raise Refused("InvalidDeadline")
        if not off_chain:
            self._token_of(root.currency)
        epoch = self.offer_epochs.setdefault(note_id, 1)
        self.offer_count += 1
        self.offers[self.offer_count] = ModelOffer(
            note_id=note_id,
            financier=sender,
            holder=note.holder,
            price=price,
            deadline=deadline,
            off_chain=off_chain,
            epoch=epoch,
        )
        return self.offer_count

    def _open_offer(self, offer_id: int) -> ModelOffer:
        offer = self.offers.get(offer_id)
        if offer is None or not offer.open:
            raise Refused("OfferNotOpen")
        return offer

    def cancel_offer(self, sender: str, offer_id: int) -> None:
        offer = self._open_offer(offer_id)
        if offer.financier != sender:
            raise Refused("NotOfferer")
        self.require_active(sender, Role.FINANCIER)
        offer.open = False
        offer.reference = None

    def record_discount_payment(self, sender: str, offer_id: int, reference: bytes, now: int) -> None:
        offer = self._open_offer(offer_id)
        if offer.financier != sender:
            raise Refused("NotOfferer")
        self.require_active(sender, Role.FINANCIER)
        if not offer.off_chain:
            raise Refused("NotAnOffChainOffer")
        if not reference.strip(b"\0"):
            raise Refused("ZeroReference")
        if now > offer.deadline:
            raise Refused("OfferExpired")
        offer.reference = reference

    def accept_offer(self, sender: str, offer_id: int, now: int) -> ModelOffer:
        """Delivery versus payment; the offer is void once its note has changed hands (even back) or
        been frozen since it was made."""
        offer = self._open_offer(offer_id)
        if now > offer.deadline:
            raise Refused("OfferExpired")
        note = self._movable(offer.note_id, sender)
        if offer.holder != sender or offer.epoch != self.offer_epochs[offer.note_id]:
            raise Refused("OfferVoid")
        self.require_active(offer.financier, Role.FINANCIER)
        token = None
        if offer.off_chain:
            if offer.reference is None:
                raise Refused("DiscountPaymentNotRecorded")
        else:
            token = self._token_of(self.roots[note.root_id].currency)
        note.holder = offer.financier
        self.offer_epochs[offer.note_id] += 1
        offer.open = False
        if token is not None:
            self._ledger_transfer_from(token, offer.financier, sender, offer.price)
        return offer

    # ------------------------------------------------------------------ settlement
    def pay(self, sender: str, note_id: int, amount: int, now: int) -> None:
        note = self._payable(sender, note_id, amount, now)
        token = self._token_of(self.roots[note.root_id].currency)
        self._apply_payment(note, amount)
        self.claims.pop(note_id, None)  # every payment ends a pending claim
        self._ledger_transfer_from(token, sender, note.holder, amount)

    def claim_payment(self, sender: str, note_id: int, amount: int, reference: bytes, now: int) -> None:
        if not reference.strip(b"\0"):
            raise Refused("ZeroReference")
        self._payable(sender, note_id, amount, now)
        self.claims[note_id] = (amount, reference)

    def confirm_payment(self, sender: str, note_id: int, amount: int, reference: bytes) -> None:
        note = self._existing(note_id)
        if note.holder != sender:
            raise Refused("NotHolder")
        if self.claims.get(note_id) != (amount, reference):
            raise Refused("PaymentClaimMismatch")
        if note.status not in PAYABLE:
            raise Refused("NoteNotPayable")
        if note.frozen:
            raise Refused("NoteIsFrozen")
        if amount > note.remaining:
            raise Refused("PaymentTooLarge")
        del self.claims[note_id]
        self._apply_payment(note, amount)

    def withdraw_payment_claim(self, sender: str, note_id: int) -> None:
        note = self._existing(note_id)
        if self.roots[note.root_id].obligor != sender:
            raise Refused("NotObligor")
        if note_id not in self.claims:
            raise Refused("NoPaymentClaim")
        del self.claims[note_id]

    def settle_root(
        self, sender: str, root_id: int, first_index: int, count: int, now: int
    ) -> list[tuple[int, int]]:
        """Returns the (note id, amount) paid, in index order."""
        if root_id & INDEX_MASK:
            raise Refused("NoteNotFound")
        self._existing(root_id)
        root = self.roots[root_id]
        if root.obligor != sender:
            raise Refused("NotObligor")
        if now < root.maturity:
            raise Refused("NoteNotMatured")
        if count == 0 or count > MAX_SETTLE_BATCH or first_index > root.last_index:
            raise Refused("InvalidBatch")
        token = self._token_of(root.currency)
        paid: list[tuple[int, int]] = []
        for index in range(first_index, min(first_index + count, root.last_index + 1)):
            note = self.notes[root_id | index]
            if note.status in PAYABLE and not note.frozen:
                paid.append((root_id | index, note.remaining))
                self._apply_payment(note, note.remaining)
                self.claims.pop(root_id | index, None)
        for note_id, amount in paid:
            self._ledger_transfer_from(token, sender, self.notes[note_id].holder, amount)
        return paid

    def mark_overdue(self, note_id: int, now: int) -> None:
        note = self._existing(note_id)
        if note.status != NoteStatus.ACTIVE:
            raise Refused("NoteNotActive")
        if now < self._overdue_at(note):
            raise Refused("NotOverdueYet")
        note.status = NoteStatus.OVERDUE

    def write_off(self, sender: str, note_id: int, reference: bytes, now: int) -> int:
        self._only_operator(sender)
        if not reference.strip(b"\0"):
            raise Refused("ZeroReference")
        note = self._existing(note_id)
        if note.status not in PAYABLE:
            raise Refused("NoteNotPayable")
        if now < self._overdue_at(note):
            raise Refused("NotOverdueYet")
        note.written_off = note.remaining
        note.status = NoteStatus.WRITTEN_OFF
        self.claims.pop(note_id, None)
        self.outstanding[self.roots[note.root_id].obligor] -= note.written_off
        return note.written_off

    # ------------------------------------------------------------------ evidence-backed receivables
    def register_evidence(
        self, sender: str, document: bytes, kind: int, buyer: str, currency: str, amount: int
    ) -> None:
        self.require_active(sender, Role.SUPPLIER)
        if buyer == sender:
            raise Refused("SelfDealing")
        self.require_active(buyer, Role.CORE_ENTERPRISE)
        if kind > 5:
            raise Refused("InvalidEvidenceKind")
        if kind == INVOICE and amount == 0:
            raise Refused("InvoiceAmountRequired")
        if amount > MAX_EVIDENCE_AMOUNT:
            raise Refused("AmountTooLarge")
        if document in self.evidence:
            raise Refused("EvidenceAlreadyRegistered")
        if document in self.document_root:
            raise Refused("DocumentAlreadyUsed")
        self.evidence[document] = ModelEvidence(sender, buyer, kind, currency, amount)
        self.document_root[document] = EVIDENCE_DOCUMENT

    def _record(self, document: bytes) -> ModelEvidence:
        record = self.evidence.get(document)
        if record is None:
            raise Refused("EvidenceNotFound")
        return record

    def attest(self, sender: str, document: bytes) -> None:
        self.require_active(sender, Role.DATA_PROVIDER)
        record = self._record(document)
        if sender in (record.supplier, record.buyer):
            raise Refused("SelfAttestation")
        if sender in record.attestations:
            raise Refused("AlreadyAttested")
        record.attestations[sender] = 1

    def revoke_attestation(self, sender: str, document: bytes) -> None:
        record = self._record(document)
        if record.attestations.get(sender) != 1:
            raise Refused("NotAttested")
        record.attestations[sender] = 2

    def originate(
        self, sender: str, invoice: bytes, supporting: list[bytes], amount: int, maturity: int, now: int
    ) -> int:
        record = self._record(invoice)
        if record.supplier != sender:
            raise Refused("NotEvidenceSupplier")
        if record.kind != INVOICE:
            raise Refused("NotAnInvoice")
        if record.attesters == 0:
            raise Refused("EvidenceNotAttested")
        if amount > record.amount:
            raise Refused("AmountExceedsInvoice")
        if len(supporting) > MAX_SUPPORTING:
            raise Refused("TooManySupporting")
        for i, document in enumerate(supporting):
            other = self.evidence.get(document)
            if (
                document == invoice
                or other is None
                or other.supplier != sender
                or other.buyer != record.buyer
            ):
                raise Refused("UnrelatedEvidence")
            if document in supporting[:i]:
                raise Refused("UnrelatedEvidence")
        self.require_active(sender, Role.SUPPLIER)
        if amount == 0:
            raise Refused("ZeroAmount")
        if amount > MAX_AMOUNT:
            raise Refused("AmountTooLarge")
        if amount < self.min_part.get(record.currency, 0):
            raise Refused("AmountBelowMinimum")
        if maturity <= now or maturity > now + 365 * 86_400:
            raise Refused("InvalidMaturity")
        if self.document_root.get(invoice) != EVIDENCE_DOCUMENT:
            raise Refused("DocumentAlreadyUsed")
        if self.outstanding.get(sender, 0) + amount > self.limits.get(sender, 0):
            raise Refused("CreditLimitExceeded")
        self.outstanding[sender] = self.outstanding.get(sender, 0) + amount
        self.root_count += 1
        root_id = self.root_count << 32
        self.roots[root_id] = ModelRoot(
            obligor=sender, face=amount, maturity=maturity, document=invoice, currency=record.currency
        )
        self.notes[root_id] = ModelNote(
            holder=sender, amount=amount, status=NoteStatus.ACTIVE, root_id=root_id, parent_id=None
        )
        self.document_root[invoice] = root_id
        self.receivables[root_id] = invoice
        return root_id

    def convert(self, sender: str, root_id: int, now: int) -> int:
        invoice = self.receivables.get(root_id)
        if invoice is None:
            raise Refused("NotAReceivable")
        record = self.evidence[invoice]
        if record.buyer != sender:
            raise Refused("NotReceivableBuyer")
        self.require_active(sender, Role.CORE_ENTERPRISE)
        note = self.notes[root_id]
        if note.status != NoteStatus.ACTIVE:
            raise Refused("NoteNotActive")
        if note.frozen:
            raise Refused("NoteIsFrozen")
        root = self.roots[root_id]
        if root.obligor != record.supplier:
            raise Refused("ReceivableAlreadyConverted")
        if now >= root.maturity:
            raise Refused("NoteMatured")
        if self.outstanding.get(sender, 0) + note.amount > self.limits.get(sender, 0):
            raise Refused("CreditLimitExceeded")
        self.outstanding[sender] = self.outstanding.get(sender, 0) + note.amount
        self.outstanding[record.supplier] -= note.amount
        root.obligor = sender
        return note.amount

    # ------------------------------------------------------------------ derived views
    def live_sum(self, root_id: int) -> int:
        return sum(n.amount for n in self.notes.values() if n.root_id == root_id and n.status.is_live)

    def live_remainder(self, obligor: str) -> int:
        """What the obligor still owes: the live notes' unpaid remainders."""
        return sum(
            n.remaining
            for n in self.notes.values()
            if n.status.is_live and self.roots[n.root_id].obligor == obligor
        )

    def is_overdue(self, note_id: int, now: int) -> bool:
        note = self.notes[note_id]
        if note.status == NoteStatus.OVERDUE:
            return True
        return note.status == NoteStatus.ACTIVE and now >= self._overdue_at(note)
