"""transfer: the holder of an active note passes the whole note to another member."""

from __future__ import annotations

import pytest

from service.domain import NoteStatus, Role
from service.ledger import errors
from tests.consortium import DEFAULT_LIMIT, Consortium
from tests.contracts.helpers import ROLE_HOLDER, next_block_time, only_event, part, set_next_block_time

UNKNOWN_NOTE = 99 << 32

# ---------------------------------------------------------------- success


def test_transfer_moves_the_whole_note_to_the_new_holder_and_emits_note_transferred(
    consortium: Consortium,
) -> None:
    c = consortium
    holder, new_holder, _ = c.suppliers
    note_id = c.active_note(amount=1_000, to=holder)
    result = c.ledger.transfer(holder, note_id, new_holder.address)
    assert only_event(result, "NoteTransferred") == {
        "noteId": note_id,
        "from": holder.address,
        "to": new_holder.address,
    }
    note = c.ledger.get_note(note_id)
    assert (note.holder, note.amount, note.status) == (new_holder.address, 1_000, NoteStatus.ACTIVE)
    assert c.ledger.credit_of(c.core.address) == (DEFAULT_LIMIT, 1_000)


def test_transfer_of_a_child_note_keeps_its_id(consortium: Consortium) -> None:
    c = consortium
    holder, a, b = c.suppliers
    root = c.active_note(amount=1_000, to=holder)
    child, _ = c.ledger.split(holder, root, [part(a, 400), part(holder, 600)]).created_note_ids()
    result = c.ledger.transfer(a, child, b.address)
    assert only_event(result, "NoteTransferred") == {"noteId": child, "from": a.address, "to": b.address}
    assert c.ledger.get_note(child).holder == b.address
    assert c.ledger.tree_size(root) == 3


def test_transfer_to_a_financier_is_allowed(consortium: Consortium) -> None:
    c = consortium
    holder = c.suppliers[0]
    note_id = c.active_note(to=holder)
    c.ledger.transfer(holder, note_id, c.bank.address)
    assert c.ledger.get_note(note_id).holder == c.bank.address


def test_the_previous_holder_can_no_longer_move_a_transferred_note(consortium: Consortium) -> None:
    c = consortium
    holder, new_holder, _ = c.suppliers
    note_id = c.active_note(to=holder)
    c.ledger.transfer(holder, note_id, new_holder.address)
    with pytest.raises(errors.NotHolder) as exc:
        c.ledger.transfer(holder, note_id, c.bank.address)
    assert exc.value.arguments == {"noteId": note_id, "caller": holder.address}


def test_the_new_holder_can_pass_a_transferred_note_on(consortium: Consortium) -> None:
    c = consortium
    holder, new_holder, _ = c.suppliers
    note_id = c.active_note(to=holder)
    c.ledger.transfer(holder, note_id, new_holder.address)
    c.ledger.transfer(new_holder, note_id, c.bank.address)
    assert c.ledger.get_note(note_id).holder == c.bank.address


def test_transfer_succeeds_one_second_before_maturity(consortium: Consortium) -> None:
    c = consortium
    holder, new_holder, _ = c.suppliers
    note_id = c.active_note(to=holder, days=1)
    set_next_block_time(c, c.ledger.get_note(note_id).maturity - 1)
    c.ledger.transfer(holder, note_id, new_holder.address)
    assert c.ledger.get_note(note_id).holder == new_holder.address


# ---------------------------------------------------------------- the note and its holder


def test_transfer_refuses_an_unknown_note(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NoteNotFound) as exc:
        c.ledger.transfer(c.suppliers[0], UNKNOWN_NOTE, c.suppliers[1].address)
    assert exc.value.arguments == {"noteId": UNKNOWN_NOTE}


def test_transfer_refuses_a_pending_note(consortium: Consortium) -> None:
    c = consortium
    holder = c.suppliers[0]
    note_id = c.issue(to=holder)
    with pytest.raises(errors.NoteNotActive) as exc:
        c.ledger.transfer(holder, note_id, c.suppliers[1].address)
    assert exc.value.arguments == {"noteId": note_id, "status": NoteStatus.PENDING}


def test_transfer_refuses_a_note_that_was_split(consortium: Consortium) -> None:
    c = consortium
    holder, a, _ = c.suppliers
    root = c.active_note(amount=1_000, to=holder)
    c.ledger.split(holder, root, [part(a, 400), part(holder, 600)])
    with pytest.raises(errors.NoteNotActive) as exc:
        c.ledger.transfer(holder, root, a.address)
    assert exc.value.arguments == {"noteId": root, "status": NoteStatus.SPLIT}


def test_transfer_refuses_a_frozen_note(consortium: Consortium) -> None:
    c = consortium
    holder = c.suppliers[0]
    note_id = c.active_note(to=holder)
    c.ledger.freeze(c.operator, note_id, b"dispute")
    with pytest.raises(errors.NoteIsFrozen) as exc:
        c.ledger.transfer(holder, note_id, c.suppliers[1].address)
    assert exc.value.arguments == {"noteId": note_id}


def test_transfer_refuses_a_caller_who_is_not_the_holder(consortium: Consortium) -> None:
    c = consortium
    holder, other, _ = c.suppliers
    note_id = c.active_note(to=holder)
    with pytest.raises(errors.NotHolder) as exc:
        c.ledger.transfer(other, note_id, other.address)
    assert exc.value.arguments == {"noteId": note_id, "caller": other.address}


def test_transfer_refuses_a_suspended_holder(consortium: Consortium) -> None:
    c = consortium
    holder = c.suppliers[0]
    note_id = c.active_note(to=holder)
    c.ledger.suspend_member(c.operator, holder.address)
    with pytest.raises(errors.MemberNotActive) as exc:
        c.ledger.transfer(holder, note_id, c.suppliers[1].address)
    assert exc.value.arguments == {"account": holder.address}


def test_transfer_refuses_a_holder_who_no_longer_has_a_holder_role(consortium: Consortium) -> None:
    c = consortium
    holder = c.suppliers[0]
    note_id = c.active_note(to=holder)
    c.ledger.set_member_roles(c.operator, holder.address, Role.CORE_ENTERPRISE)
    with pytest.raises(errors.MissingRole) as exc:
        c.ledger.transfer(holder, note_id, c.suppliers[1].address)
    assert exc.value.arguments == {"account": holder.address, "role": ROLE_HOLDER}


def test_transfer_refuses_a_note_at_its_maturity(consortium: Consortium) -> None:
    c = consortium
    holder = c.suppliers[0]
    note_id = c.active_note(to=holder, days=1)
    maturity = c.ledger.get_note(note_id).maturity
    set_next_block_time(c, maturity)
    with pytest.raises(errors.NoteMatured) as exc:
        c.ledger.transfer(holder, note_id, c.suppliers[1].address)
    assert exc.value.arguments == {"noteId": note_id, "maturity": maturity}


def test_transfer_refuses_a_note_past_its_maturity(consortium: Consortium) -> None:
    c = consortium
    holder = c.suppliers[0]
    note_id = c.active_note(to=holder, days=1)
    c.chain.advance_time(30 * 86_400)
    maturity = c.ledger.get_note(note_id).maturity
    assert next_block_time(c) > maturity
    with pytest.raises(errors.NoteMatured) as exc:
        c.ledger.transfer(holder, note_id, c.suppliers[1].address)
    assert exc.value.arguments == {"noteId": note_id, "maturity": maturity}


# ---------------------------------------------------------------- the recipient


def test_transfer_refuses_a_transfer_to_the_holder_itself(consortium: Consortium) -> None:
    c = consortium
    holder = c.suppliers[0]
    note_id = c.active_note(to=holder)
    with pytest.raises(errors.SelfDealing) as exc:
        c.ledger.transfer(holder, note_id, holder.address)
    assert exc.value.arguments == {"account": holder.address}


def test_transfer_refuses_a_recipient_that_is_not_a_member(consortium: Consortium) -> None:
    c = consortium
    holder = c.suppliers[0]
    note_id = c.active_note(to=holder)
    with pytest.raises(errors.NotAMember) as exc:
        c.ledger.transfer(holder, note_id, c.outsider.address)
    assert exc.value.arguments == {"account": c.outsider.address}


def test_transfer_refuses_a_suspended_recipient(consortium: Consortium) -> None:
    c = consortium
    holder, suspended, _ = c.suppliers
    note_id = c.active_note(to=holder)
    c.ledger.suspend_member(c.operator, suspended.address)
    with pytest.raises(errors.MemberNotActive) as exc:
        c.ledger.transfer(holder, note_id, suspended.address)
    assert exc.value.arguments == {"account": suspended.address}


def test_transfer_refuses_a_recipient_with_only_the_auditor_role(consortium: Consortium) -> None:
    c = consortium
    holder = c.suppliers[0]
    note_id = c.active_note(to=holder)
    with pytest.raises(errors.MissingRole) as exc:
        c.ledger.transfer(holder, note_id, c.auditor.address)
    assert exc.value.arguments == {"account": c.auditor.address, "role": ROLE_HOLDER}


def test_transfer_refuses_a_recipient_with_only_the_core_enterprise_role(consortium: Consortium) -> None:
    c = consortium
    holder = c.suppliers[0]
    note_id = c.active_note(to=holder)
    with pytest.raises(errors.MissingRole) as exc:
        c.ledger.transfer(holder, note_id, c.core.address)
    assert exc.value.arguments == {"account": c.core.address, "role": ROLE_HOLDER}
