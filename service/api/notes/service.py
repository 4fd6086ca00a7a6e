"""Note use cases shared by the API, the web console and the CLI: issue, accept / reject / revoke,
transfer and split (each the whole use case of its route: checks, then the ledger write), loading a
note to act on, the answer of a write on notes, and the operator's freeze and unfreeze."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import select

from service.alerts.evaluator import record_duplicate_document
from service.api.context import AppContext
from service.api.financing.queries import min_part_amount
from service.api.members.queries import (
    require_acting_member_active,
    require_active_member,
    resolve_party,
)
from service.api.notes.queries import parse_note_id, visible_note
from service.api.notes.rules import require_credit_room, require_maturity_within_tenor, require_not_frozen
from service.api.notes.schemas import NoteIssue, NoteSplitIn, NoteTransfer, WriteResult
from service.api.problems import revert_problem
from service.api.schemas import to_datetime
from service.api.writes import Answer, Sent, note_result, transact
from service.db.evidence_models import EvidenceRecord
from service.db.gateway_models import ApiMember, NoteReference
from service.db.models import Note
from service.domain import NoteStatus, Role
from service.ledger.types import SplitPart

HOLDER_ROLES = Role.SUPPLIER | Role.FINANCIER


def load_note(context: AppContext, member: ApiMember, raw_id: str) -> Note:
    """The note `raw_id` that `member` (active) acts on: 404 if it cannot see it, 422 if no note id."""
    note_id = parse_note_id(raw_id)
    with context.session() as session:
        require_acting_member_active(session, member)
        return visible_note(session, member, note_id)


def note_answer(context: AppContext, inputs: dict[str, Any], sent: list[Sent]) -> Answer:
    """The answer of a write on notes: the transaction and the notes `note_ids` (default: those it
    created)."""
    result, indexed = sent[-1].result, sent[-1].indexed
    note_ids = inputs.get("note_ids")
    ids = [int(n) for n in note_ids] if note_ids is not None else result.created_note_ids()
    return int(inputs.get("status", 200)), note_result(context, result, indexed, ids)


def freeze_note(context: AppContext, operator: ApiMember, note_id: str, reason: str) -> WriteResult:
    """The operator freezes a live note (dispute, court order), `reason` recorded on chain."""
    note = load_note(context, operator, note_id)
    if note.frozen:
        raise revert_problem("NoteIsFrozen", f"note {note.id} is already frozen")
    if not NoteStatus(note.status).is_live:
        raise revert_problem("NoteNotLive", f"note {note.id} is {NoteStatus(note.status).name.lower()}")
    frozen = note.id
    _status, answer = transact(
        context,
        operator,
        note_answer,
        {"note_ids": [frozen]},
        lambda account: context.ledger.freeze(account, frozen, reason.encode()),
    )
    assert isinstance(answer, WriteResult)
    return answer


def unfreeze_note(context: AppContext, operator: ApiMember, note_id: str) -> WriteResult:
    """The operator lifts a note's freeze."""
    note = load_note(context, operator, note_id)
    if not note.frozen:
        raise revert_problem("NoteNotFrozen", f"note {note.id} is not frozen")
    frozen = note.id
    _status, answer = transact(
        context,
        operator,
        note_answer,
        {"note_ids": [frozen]},
        lambda account: context.ledger.unfreeze(account, frozen),
    )
    assert isinstance(answer, WriteResult)
    return answer


def _chain_now(context: AppContext) -> int:
    return context.chain.now()


# ------------------------------------------------------------------ issue
def issue_note(context: AppContext, member: ApiMember, body: NoteIssue) -> Answer:
    """Issue a pending root note to a supplier, within the obligor's credit limit (`POST /v1/notes`)."""

    maturity = body.maturity_unix()
    with context.session() as session:
        require_acting_member_active(session, member)
        to = resolve_party(session, body.to, "to")
        if to == member.address:
            raise revert_problem("SelfDealing", "an obligor cannot issue a note to itself", field="to")
        require_active_member(session, to, "to", HOLDER_ROLES)
        minimum = min_part_amount(session, body.currency)
        if body.amount < minimum:
            raise revert_problem(
                "AmountBelowMinimum",
                f"{body.amount} is below the minimum part amount of {body.currency}, {minimum}",
                field="amount",
                minimum=str(minimum),
            )
        require_maturity_within_tenor(session, context.ledger.address, _chain_now(context), maturity)
        require_credit_room(session, member.address, body.amount, "the")
        doc = body.document_hash.lower()
        used = session.scalars(
            select(Note.id).where(
                Note.document_hash == doc,
                Note.parent_id.is_(None),
                Note.status.in_([NoteStatus.PENDING, NoteStatus.ACTIVE, NoteStatus.SPLIT]),
            )
        ).first()
        if used is not None:
            with context.engine.begin() as conn:  # the early warning of a double-financing attempt
                record_duplicate_document(conn, member.address, doc, used, to, body.amount)
            raise revert_problem("DocumentAlreadyUsed", f"the document already backs note {used}")
        evidence = session.get(EvidenceRecord, doc)  # one invoice, one financing, network-wide
        if evidence is not None and evidence.financed_note_id is not None:
            raise revert_problem(
                "DocumentAlreadyUsed", f"the invoice already backs receivable {evidence.financed_note_id}"
            )
        if evidence is not None:
            raise revert_problem(
                "DocumentIsEvidence", "the document is registered as a supplier's trade evidence"
            )
    return transact(
        context,
        member,
        issued_answer,
        {"reference": body.reference, "created_by": member.id},
        lambda account: context.ledger.issue(
            account, to, body.amount, body.currency, maturity, bytes.fromhex(doc[2:])
        ),
    )


def issued_answer(context: AppContext, inputs: dict[str, Any], sent: list[Sent]) -> Answer:
    """The answer of an issue: the new note (its off-chain reference kept once)."""
    result, indexed = sent[-1].result, sent[-1].indexed
    note_ids = result.created_note_ids()
    if inputs.get("reference"):
        with context.session() as session:
            if session.get(NoteReference, note_ids[0]) is None:
                session.add(
                    NoteReference(
                        note_id=note_ids[0], reference=inputs["reference"], created_by=inputs["created_by"]
                    )
                )
                session.commit()
    return 201, note_result(context, result, indexed, note_ids)


# ------------------------------------------------------------------ actions on one note
def _check_holder(note: Note, member: ApiMember) -> None:
    if note.holder != member.address:
        raise revert_problem("NotHolder", f"{member.id} does not hold note {note.id}")


def _check_status(note: Note, wanted: NoteStatus) -> None:
    if note.status != wanted:
        name = {NoteStatus.PENDING: "NoteNotPending", NoteStatus.ACTIVE: "NoteNotActive"}[wanted]
        raise revert_problem(name, f"note {note.id} is {NoteStatus(note.status).name.lower()}")


def _check_movable(context: AppContext, note: Note) -> None:
    require_not_frozen(note)
    # a chain time up to a second old is early enough here: if the note matured since, the ledger
    # refuses the transaction when it is estimated, with the same problem
    if context.chain_time(max_age=1.0) >= note.maturity:
        raise revert_problem(
            "NoteMatured", f"note {note.id} matured at {to_datetime(note.maturity).isoformat()}"
        )


PendingAnswer = Literal["accept", "reject", "revoke"]


def answer_pending(context: AppContext, member: ApiMember, raw_id: str, check: PendingAnswer) -> Answer:
    """The named holder accepts or rejects a pending note, or its obligor revokes it
    (`POST /v1/notes/{id}/accept|reject|revoke`)."""
    note = load_note(context, member, raw_id)
    if check == "revoke":
        if note.obligor != member.address:
            raise revert_problem("NotObligor", f"{member.id} is not the obligor of note {note.id}")
    else:
        _check_holder(note, member)
    _check_status(note, NoteStatus.PENDING)
    require_not_frozen(note)
    fn = {
        "accept": context.ledger.accept,
        "reject": context.ledger.reject,
        "revoke": context.ledger.revoke,
    }[check]
    return transact(
        context, member, note_answer, {"note_ids": [note.id]}, lambda account: fn(account, note.id)
    )


def transfer_note(context: AppContext, member: ApiMember, note_id: str, body: NoteTransfer) -> Answer:
    """The holder passes the whole note to another member (`POST /v1/notes/{id}/transfer`)."""
    note = load_note(context, member, note_id)
    _check_holder(note, member)
    _check_status(note, NoteStatus.ACTIVE)
    _check_movable(context, note)
    with context.session() as session:
        to = resolve_party(session, body.to, "to")
        require_active_member(session, to, "to", HOLDER_ROLES)
    if to == member.address:
        raise revert_problem("SelfDealing", "a note cannot be transferred to its holder", field="to")
    return transact(
        context,
        member,
        note_answer,
        {"note_ids": [note.id]},
        lambda account: context.ledger.transfer(account, note.id, to),
    )


def split_note(context: AppContext, member: ApiMember, note_id: str, body: NoteSplitIn) -> Answer:
    """The holder splits a note into parts whose amounts sum to the note's (`POST /v1/notes/{id}/split`)."""
    note = load_note(context, member, note_id)
    _check_holder(note, member)
    _check_status(note, NoteStatus.ACTIVE)
    _check_movable(context, note)
    with context.session() as session:
        minimum = min_part_amount(session, note.currency)
    for i, part in enumerate(body.parts):
        if part.amount < minimum:
            raise revert_problem(
                "AmountBelowMinimum",
                f"part {i} of {part.amount} is below the {note.currency} minimum part amount {minimum}",
                field=f"parts.{i}.amount",
                part_index=i,
                minimum=str(minimum),
            )
    total = sum(part.amount for part in body.parts)
    if total != note.amount:
        raise revert_problem(
            "AmountsDoNotSum",
            f"the parts sum to {total}, the note is {note.amount}",
            expected=str(note.amount),
            actual=str(total),
        )
    parts = []
    with context.session() as session:
        for i, part in enumerate(body.parts):
            field = f"parts.{i}.to"
            to = resolve_party(session, part.to, field)
            require_active_member(session, to, field, HOLDER_ROLES)
            parts.append(SplitPart(to=to, amount=part.amount))
    return transact(
        context, member, note_answer, {}, lambda account: context.ledger.split(account, note.id, parts)
    )
