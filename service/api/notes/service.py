"""Note use cases shared by the API and the CLI: loading a note to act on, the answer of a write on
notes, and the operator's freeze and unfreeze."""

from __future__ import annotations

from typing import Any

from service.api.context import AppContext
from service.api.members.queries import require_acting_member_active
from service.api.notes.queries import parse_note_id, visible_note
from service.api.notes.schemas import WriteResult
from service.api.problems import revert_problem
from service.api.writes import Answer, Sent, note_result, transact
from service.db.gateway_models import ApiMember
from service.db.models import Note
from service.domain import NoteStatus


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
