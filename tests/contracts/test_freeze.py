"""freeze / unfreeze: the operator stops a live note from moving, and lets it move again."""

from __future__ import annotations

import pytest

from service.domain import NoteStatus
from service.ledger import errors
from tests.consortium import Consortium
from tests.contracts.helpers import only_event, part

UNKNOWN_NOTE = 99 << 32
REASON = b"case 2025-0042"


def test_freeze_marks_an_active_note_frozen_and_emits_note_frozen_with_the_reason(
    consortium: Consortium,
) -> None:
    c = consortium
    note_id = c.active_note()
    result = c.ledger.freeze(c.operator, note_id, REASON)
    assert only_event(result, "NoteFrozen") == {"noteId": note_id, "reason": REASON.ljust(32, b"\0")}
    note = c.ledger.get_note(note_id)
    assert (note.frozen, note.status, note.holder) == (True, NoteStatus.ACTIVE, c.suppliers[0].address)


def test_freeze_accepts_a_pending_note(consortium: Consortium) -> None:
    c = consortium
    note_id = c.issue()
    c.ledger.freeze(c.operator, note_id, REASON)
    note = c.ledger.get_note(note_id)
    assert (note.frozen, note.status) == (True, NoteStatus.PENDING)


def test_freezing_a_child_leaves_its_sibling_movable(consortium: Consortium) -> None:
    c = consortium
    holder, a, b = c.suppliers
    root = c.active_note(amount=1_000, to=holder)
    frozen, sibling = c.ledger.split(holder, root, [part(a, 400), part(holder, 600)]).created_note_ids()
    c.ledger.freeze(c.operator, frozen, REASON)
    c.ledger.transfer(holder, sibling, b.address)
    assert c.ledger.get_note(sibling).holder == b.address
    assert c.ledger.get_note(frozen).frozen is True


def test_unfreeze_lifts_the_freeze_and_emits_note_unfrozen(consortium: Consortium) -> None:
    c = consortium
    note_id = c.active_note()
    c.ledger.freeze(c.operator, note_id, REASON)
    result = c.ledger.unfreeze(c.operator, note_id)
    assert only_event(result, "NoteUnfrozen") == {"noteId": note_id}
    assert c.ledger.get_note(note_id).frozen is False


def test_an_unfrozen_note_can_move_again(consortium: Consortium) -> None:
    c = consortium
    holder, other, _ = c.suppliers
    note_id = c.active_note(to=holder)
    c.ledger.freeze(c.operator, note_id, REASON)
    c.ledger.unfreeze(c.operator, note_id)
    c.ledger.transfer(holder, note_id, other.address)
    assert c.ledger.get_note(note_id).holder == other.address


def test_freeze_refuses_a_caller_who_is_not_the_operator(consortium: Consortium) -> None:
    c = consortium
    note_id = c.active_note()
    with pytest.raises(errors.NotOperator) as exc:
        c.ledger.freeze(c.core, note_id, REASON)
    assert exc.value.arguments == {"caller": c.core.address}


def test_freeze_refuses_an_unknown_note(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NoteNotFound) as exc:
        c.ledger.freeze(c.operator, UNKNOWN_NOTE, REASON)
    assert exc.value.arguments == {"noteId": UNKNOWN_NOTE}


def test_freeze_refuses_a_note_that_was_split(consortium: Consortium) -> None:
    c = consortium
    holder, a, _ = c.suppliers
    root = c.active_note(amount=1_000, to=holder)
    c.ledger.split(holder, root, [part(a, 400), part(holder, 600)])
    with pytest.raises(errors.NoteNotLive) as exc:
        c.ledger.freeze(c.operator, root, REASON)
    assert exc.value.arguments == {"noteId": root, "status": NoteStatus.SPLIT}


def test_freeze_refuses_a_rejected_note(consortium: Consortium) -> None:
    c = consortium
    note_id = c.issue()
    c.ledger.reject(c.suppliers[0], note_id)
    with pytest.raises(errors.NoteNotLive) as exc:
        c.ledger.freeze(c.operator, note_id, REASON)
    assert exc.value.arguments == {"noteId": note_id, "status": NoteStatus.REJECTED}


def test_freeze_refuses_a_revoked_note(consortium: Consortium) -> None:
    c = consortium
    note_id = c.issue()
    c.ledger.revoke(c.core, note_id)
    with pytest.raises(errors.NoteNotLive) as exc:
        c.ledger.freeze(c.operator, note_id, REASON)
    assert exc.value.arguments == {"noteId": note_id, "status": NoteStatus.REVOKED}


def test_freeze_refuses_a_note_that_is_already_frozen(consortium: Consortium) -> None:
    c = consortium
    note_id = c.active_note()
    c.ledger.freeze(c.operator, note_id, REASON)
    with pytest.raises(errors.NoteIsFrozen) as exc:
        c.ledger.freeze(c.operator, note_id, b"second order")
    assert exc.value.arguments == {"noteId": note_id}


def test_unfreeze_refuses_a_caller_who_is_not_the_operator(consortium: Consortium) -> None:
    c = consortium
    note_id = c.active_note()
    c.ledger.freeze(c.operator, note_id, REASON)
    holder = c.suppliers[0]
    with pytest.raises(errors.NotOperator) as exc:
        c.ledger.unfreeze(holder, note_id)
    assert exc.value.arguments == {"caller": holder.address}


def test_unfreeze_refuses_an_unknown_note(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NoteNotFound) as exc:
        c.ledger.unfreeze(c.operator, UNKNOWN_NOTE)
    assert exc.value.arguments == {"noteId": UNKNOWN_NOTE}


def test_unfreeze_refuses_a_note_that_is_not_frozen(consortium: Consortium) -> None:
    c = consortium
    note_id = c.active_note()
    with pytest.raises(errors.NoteNotFrozen) as exc:
        c.ledger.unfreeze(c.operator, note_id)
    assert exc.value.arguments == {"noteId": note_id}
