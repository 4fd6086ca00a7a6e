"""The ledger's guards on a note, checked before anything is signed so that a refusal costs no gas
and answers the same problem the contract's revert would (`service.api.problems.revert_problem`)."""

from __future__ import annotations

from service.api.problems import revert_problem
from service.db.models import Note
from service.domain import NoteStatus


def status_name(note: Note) -> str:
    return NoteStatus(note.status).name.lower()


def require_not_frozen(note: Note) -> None:
    """409 `note-frozen` (the contract's NoteIsFrozen) if an operator froze the note."""
    if note.frozen:
        raise revert_problem("NoteIsFrozen", f"note {note.id} is frozen")


def require_active(note: Note) -> None:
    """409 `note-not-active` (NoteNotActive) unless the note is active."""
    if note.status != NoteStatus.ACTIVE:
        raise revert_problem("NoteNotActive", f"note {note.id} is {status_name(note)}")


def require_payable(note: Note) -> None:
    """409 `note-not-payable` (NoteNotPayable) unless the note is active or overdue."""
    if not NoteStatus(note.status).is_payable:
        raise revert_problem("NoteNotPayable", f"note {note.id} is {status_name(note)}")
