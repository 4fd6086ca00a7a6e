"""A pure-Python model of the CreditNoteLedger: what every operation should do, or which custom
error it should raise, checked in the same order as the contract checks."""

from __future__ import annotations

from dataclasses import dataclass, field

from service.domain import MAX_AMOUNT, MAX_SPLIT_PARTS, MemberStatus, NoteStatus, Role

HOLDER_ROLES = Role.SUPPLIER | Role.FINANCIER


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


@dataclass
class ModelRoot:
    obligor: str
    face: int
    maturity: int
    document: bytes
    last_index: int = 0


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

    # ------------------------------------------------------------------ checks, contract order
    def require_active(self, account: str, any_of: Role) -> None:
        member = self.members.get(account)
        if member is None:
            raise Refused("NotAMember")
        if member.status != MemberStatus.ACTIVE:
            raise Refused("MemberNotActive")
        if not member.roles & any_of:
            raise Refused("MissingRole")

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

    # ------------------------------------------------------------------ operations
    def issue(self, sender: str, to: str, amount: int, maturity: int, document: bytes, now: int) -> int:
        self.require_active(sender, Role.CORE_ENTERPRISE)
        if to == sender:
            raise Refused("SelfDealing")
        self.require_active(to, Role.SUPPLIER)
        if amount == 0:
            raise Refused("ZeroAmount")
        if amount > MAX_AMOUNT:
            raise Refused("AmountTooLarge")
        if maturity <= now or maturity > now + 365 * 86_400:
            raise Refused("InvalidMaturity")
        if document in self.document_root:
            raise Refused("DocumentAlreadyUsed")
        if self.outstanding.get(sender, 0) + amount > self.limits.get(sender, 0):
            raise Refused("CreditLimitExceeded")
        self.outstanding[sender] = self.outstanding.get(sender, 0) + amount
        self.root_count += 1
        root_id = self.root_count << 32
        self.roots[root_id] = ModelRoot(obligor=sender, face=amount, maturity=maturity, document=document)
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
        for to, amount in parts:
            if amount == 0:
                raise Refused("ZeroAmount")
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

    def freeze(self, sender: str, note_id: int) -> None:
        if sender != self.operator:
            raise Refused("NotOperator")
        note = self._existing(note_id)
        if note.status not in (NoteStatus.ACTIVE, NoteStatus.PENDING):
            raise Refused("NoteNotLive")
        if note.frozen:
            raise Refused("NoteIsFrozen")
        note.frozen = True

    def unfreeze(self, sender: str, note_id: int) -> None:
        if sender != self.operator:
            raise Refused("NotOperator")
        note = self._existing(note_id)
        if not note.frozen:
            raise Refused("NoteNotFrozen")
        note.frozen = False

    def suspend(self, sender: str, account: str) -> None:
        if sender != self.operator:
            raise Refused("NotOperator")
        member = self.members.get(account)
        if member is None:
            raise Refused("NotAMember")
        if member.status != MemberStatus.ACTIVE:
            raise Refused("MemberNotActive")
        member.status = MemberStatus.SUSPENDED

    def reinstate(self, sender: str, account: str) -> None:
        if sender != self.operator:
            raise Refused("NotOperator")
        member = self.members.get(account)
        if member is None:
            raise Refused("NotAMember")
        if member.status != MemberStatus.SUSPENDED:
            raise Refused("MemberNotSuspended")
        member.status = MemberStatus.ACTIVE

    # ------------------------------------------------------------------ derived views
    def live_sum(self, root_id: int) -> int:
        return sum(n.amount for n in self.notes.values() if n.root_id == root_id and n.status.is_live)
