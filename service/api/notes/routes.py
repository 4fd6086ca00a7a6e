"""/v1/notes: issue, answer, move and freeze notes (ledger writes); list, read and trace them (SQL)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import select

from service.alerts.evaluator import record_duplicate_document
from service.api.auth import require_role
from service.api.context import AppContext
from service.api.deps import (
    Context,
    CurrentMember,
    IdempotentWrite,
    Obligor,
    Operator,
    Write,
)
from service.api.financing.queries import min_part_amount
from service.api.members.queries import (
    require_acting_member_active,
    require_active_member,
    resolve_party,
)
from service.api.notes.rules import require_credit_room, require_maturity_within_tenor, require_not_frozen
from service.api.notes.schemas import (
    NoteFreeze,
    NoteIssue,
    NoteSplitIn,
    NoteTransfer,
    WriteResult,
)
from service.api.notes.service import (
    freeze_note,
    note_answer,
    unfreeze_note,
)
from service.api.notes.service import load_note as _load
from service.api.problems import revert_problem
from service.api.schemas import Empty, to_datetime
from service.api.writes import Answer, Sent, note_result, transact
from service.db.evidence_models import EvidenceRecord
from service.db.gateway_models import ApiMember, NoteReference
from service.db.models import Note
from service.domain import CORE_ENTERPRISE, NoteStatus, Role
from service.ledger.types import SplitPart

router = APIRouter(prefix="/v1/notes", tags=["notes"])
HOLDER_ROLES = Role.SUPPLIER | Role.FINANCIER


def _chain_now(context: AppContext) -> int:
    return context.chain.now()


# ------------------------------------------------------------------ issue
@router.post("", status_code=201, response_model=WriteResult)
def issue(
    body: NoteIssue,
    write: Write,
    context: Context,
    member: Obligor,
) -> JSONResponse:
    """Issue a pending root note to a supplier, within the obligor's credit limit."""

    def action() -> Answer:
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

    return write.run(member, body, action)


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


def _answer(
    raw_id: str,
    write: IdempotentWrite,
    context: AppContext,
    member: ApiMember,
    check: str,
) -> JSONResponse:
    def action() -> Answer:
        note = _load(context, member, raw_id)
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

    return write.run(member, None, action)


@router.post("/{note_id}/accept", response_model=WriteResult)
def accept(
    note_id: str,
    write: Write,
    context: Context,
    member: CurrentMember,
    body: Empty | None = None,
) -> JSONResponse:
    """The named holder accepts a pending note."""
    return _answer(note_id, write, context, member, "accept")


@router.post("/{note_id}/reject", response_model=WriteResult)
def reject(
    note_id: str,
    write: Write,
    context: Context,
    member: CurrentMember,
    body: Empty | None = None,
) -> JSONResponse:
    """The named holder rejects a pending note."""
    return _answer(note_id, write, context, member, "reject")


@router.post("/{note_id}/revoke", response_model=WriteResult)
def revoke(
    note_id: str,
    write: Write,
    context: Context,
    member: CurrentMember,
    body: Empty | None = None,
) -> JSONResponse:
    """The obligor withdraws a pending note."""
    require_role(member, CORE_ENTERPRISE)
    return _answer(note_id, write, context, member, "revoke")


@router.post("/{note_id}/transfer", response_model=WriteResult)
def transfer(
    note_id: str,
    body: NoteTransfer,
    write: Write,
    context: Context,
    member: CurrentMember,
) -> JSONResponse:
    """The holder passes the whole note to another member."""

    def action() -> Answer:
        note = _load(context, member, note_id)
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

    return write.run(member, body, action)


@router.post("/{note_id}/split", response_model=WriteResult)
def split(
    note_id: str,
    body: NoteSplitIn,
    write: Write,
    context: Context,
    member: CurrentMember,
) -> JSONResponse:
    """The holder splits a note into parts whose amounts sum to the note's."""

    def action() -> Answer:
        note = _load(context, member, note_id)
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

    return write.run(member, body, action)


@router.post("/{note_id}/freeze", response_model=WriteResult)
def freeze(
    note_id: str,
    write: Write,
    context: Context,
    member: Operator,
    body: NoteFreeze | None = None,
) -> JSONResponse:
    """The operator freezes a note (dispute, court order)."""
    reason = (body or NoteFreeze()).reason
    return write.run(member, body, lambda: (200, freeze_note(context, member, note_id, reason)))


@router.post("/{note_id}/unfreeze", response_model=WriteResult)
def unfreeze(
    note_id: str,
    write: Write,
    context: Context,
    member: Operator,
    body: Empty | None = None,
) -> JSONResponse:
    """The operator lifts a freeze."""
    return write.run(member, None, lambda: (200, unfreeze_note(context, member, note_id)))


# ------------------------------------------------------------------ reads
