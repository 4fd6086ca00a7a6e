"""/v1/notes: issue, answer, move and freeze notes (ledger writes); list, read and trace them (SQL)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

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
from service.api.notes.schemas import (
    NoteFreeze,
    NoteIssue,
    NoteSplitIn,
    NoteTransfer,
    WriteResult,
)
from service.api.notes.service import (
    PendingAnswer,
    answer_pending,
    freeze_note,
    issue_note,
    split_note,
    transfer_note,
    unfreeze_note,
)
from service.api.notes.service import (
    issued_answer as issued_answer,  # an idempotency record may name it here
)
from service.api.schemas import Empty
from service.db.gateway_models import ApiMember
from service.domain import CORE_ENTERPRISE

router = APIRouter(prefix="/v1/notes", tags=["notes"])


# ------------------------------------------------------------------ issue
@router.post("", status_code=201, response_model=WriteResult)
def issue(
    body: NoteIssue,
    write: Write,
    context: Context,
    member: Obligor,
) -> JSONResponse:
    """Issue a pending root note to a supplier, within the obligor's credit limit."""
    return write.run(member, body, lambda: issue_note(context, member, body))


# ------------------------------------------------------------------ actions on one note
def _answer(
    raw_id: str,
    write: IdempotentWrite,
    context: AppContext,
    member: ApiMember,
    check: PendingAnswer,
) -> JSONResponse:
    return write.run(member, None, lambda: answer_pending(context, member, raw_id, check))


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
    return write.run(member, body, lambda: transfer_note(context, member, note_id, body))


@router.post("/{note_id}/split", response_model=WriteResult)
def split(
    note_id: str,
    body: NoteSplitIn,
    write: Write,
    context: Context,
    member: CurrentMember,
) -> JSONResponse:
    """The holder splits a note into parts whose amounts sum to the note's."""
    return write.run(member, body, lambda: split_note(context, member, note_id, body))


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
