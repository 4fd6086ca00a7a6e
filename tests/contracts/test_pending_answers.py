"""accept / reject (by the named holder) and revoke (by the obligor) of a pending root note."""

from __future__ import annotations

import pytest

from service.domain import NoteStatus, Role
from service.ledger import errors
from tests.consortium import DEFAULT_LIMIT, Consortium
from tests.contracts.helpers import next_block_time, only_event, set_next_block_time

UNKNOWN_NOTE = 99 << 32

# ---------------------------------------------------------------- accept


def test_accept_activates_the_pending_note_and_emits_note_accepted(consortium: Consortium) -> None:
    c = consortium
    holder = c.suppliers[0]
    note_id = c.issue(amount=500, to=holder)
    result = c.ledger.accept(holder, note_id)
    assert only_event(result, "NoteAccepted") == {"noteId": note_id, "holder": holder.address}
    note = c.ledger.get_note(note_id)
    assert (note.status, note.holder, note.amount) == (NoteStatus.ACTIVE, holder.address, 500)


def test_accept_keeps_the_amount_outstanding(consortium: Consortium) -> None:
    c = consortium
    note_id = c.issue(amount=500)
    c.ledger.accept(c.suppliers[0], note_id)
    assert c.ledger.credit_of(c.core.address) == (DEFAULT_LIMIT, 500)


def test_accept_refuses_an_unknown_note(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NoteNotFound) as exc:
        c.ledger.accept(c.suppliers[0], UNKNOWN_NOTE)
    assert exc.value.arguments == {"noteId": UNKNOWN_NOTE}


def test_accept_refuses_a_caller_who_is_not_the_named_holder(consortium: Consortium) -> None:
    c = consortium
    note_id = c.issue()
    other = c.suppliers[1]
    with pytest.raises(errors.NotHolder) as exc:
        c.ledger.accept(other, note_id)
    assert exc.value.arguments == {"noteId": note_id, "caller": other.address}


def test_accept_refuses_a_note_that_was_already_accepted(consortium: Consortium) -> None:
    c = consortium
    note_id = c.active_note()
    with pytest.raises(errors.NoteNotPending) as exc:
        c.ledger.accept(c.suppliers[0], note_id)
    assert exc.value.arguments == {"noteId": note_id, "status": NoteStatus.ACTIVE}


def test_accept_refuses_a_rejected_note(consortium: Consortium) -> None:
    c = consortium
    note_id = c.issue()
    c.ledger.reject(c.suppliers[0], note_id)
    with pytest.raises(errors.NoteNotPending) as exc:
        c.ledger.accept(c.suppliers[0], note_id)
    assert exc.value.arguments == {"noteId": note_id, "status": NoteStatus.REJECTED}


def test_accept_refuses_a_frozen_note(consortium: Consortium) -> None:
    c = consortium
    note_id = c.issue()
    c.ledger.freeze(c.operator, note_id, b"dispute")
    with pytest.raises(errors.NoteIsFrozen) as exc:
        c.ledger.accept(c.suppliers[0], note_id)
    assert exc.value.arguments == {"noteId": note_id}


def test_accept_refuses_a_suspended_holder(consortium: Consortium) -> None:
    c = consortium
    holder = c.suppliers[0]
    note_id = c.issue(to=holder)
    c.ledger.suspend_member(c.operator, holder.address)
    with pytest.raises(errors.MemberNotActive) as exc:
        c.ledger.accept(holder, note_id)
    assert exc.value.arguments == {"account": holder.address}


def test_accept_refuses_a_holder_who_lost_the_supplier_role(consortium: Consortium) -> None:
    c = consortium
    holder = c.suppliers[0]
    note_id = c.issue(to=holder)
    c.ledger.set_member_roles(c.operator, holder.address, Role.FINANCIER)
    with pytest.raises(errors.MissingRole) as exc:
        c.ledger.accept(holder, note_id)
    assert exc.value.arguments == {"account": holder.address, "role": int(Role.SUPPLIER)}


def test_accept_refuses_a_note_at_its_maturity(consortium: Consortium) -> None:
    c = consortium
    note_id = c.issue(days=1)
    maturity = c.ledger.get_note(note_id).maturity
    set_next_block_time(c, maturity)
    with pytest.raises(errors.NoteMatured) as exc:
        c.ledger.accept(c.suppliers[0], note_id)
    assert exc.value.arguments == {"noteId": note_id, "maturity": maturity}


def test_accept_refuses_a_note_past_its_maturity(consortium: Consortium) -> None:
    c = consortium
    note_id = c.issue(days=1)
    c.chain.advance_time(2 * 86_400)
    maturity = c.ledger.get_note(note_id).maturity
    assert next_block_time(c) > maturity
    with pytest.raises(errors.NoteMatured) as exc:
        c.ledger.accept(c.suppliers[0], note_id)
    assert exc.value.arguments == {"noteId": note_id, "maturity": maturity}


def test_accept_succeeds_one_second_before_maturity(consortium: Consortium) -> None:
    c = consortium
    note_id = c.issue(days=1)
    set_next_block_time(c, c.ledger.get_note(note_id).maturity - 1)
    c.ledger.accept(c.suppliers[0], note_id)
    assert c.ledger.get_note(note_id).status == NoteStatus.ACTIVE


# ---------------------------------------------------------------- reject


def test_reject_marks_the_note_rejected_and_emits_note_rejected(consortium: Consortium) -> None:
    c = consortium
    holder = c.suppliers[0]
    note_id = c.issue(amount=500, to=holder)
    result = c.ledger.reject(holder, note_id)
    assert only_event(result, "NoteRejected") == {"noteId": note_id, "holder": holder.address, "amount": 500}
    assert c.ledger.get_note(note_id).status == NoteStatus.REJECTED


def test_reject_releases_the_amount_from_the_obligors_outstanding(consortium: Consortium) -> None:
    c = consortium
    c.issue(amount=300)
    note_id = c.issue(amount=500)
    assert c.ledger.credit_of(c.core.address) == (DEFAULT_LIMIT, 800)
    c.ledger.reject(c.suppliers[0], note_id)
    assert c.ledger.credit_of(c.core.address) == (DEFAULT_LIMIT, 300)


def test_reject_releases_the_document_hash(consortium: Consortium) -> None:
    c = consortium
    note_id = c.issue()
    doc = c.ledger.get_note(note_id).document_hash
    c.ledger.reject(c.suppliers[0], note_id)
    assert c.ledger.document_root(doc) == 0


def test_reject_is_allowed_after_maturity(consortium: Consortium) -> None:
    c = consortium
    note_id = c.issue(days=1)
    c.chain.advance_time(2 * 86_400)
    c.ledger.reject(c.suppliers[0], note_id)
    assert c.ledger.get_note(note_id).status == NoteStatus.REJECTED


def test_reject_refuses_an_unknown_note(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NoteNotFound) as exc:
        c.ledger.reject(c.suppliers[0], UNKNOWN_NOTE)
    assert exc.value.arguments == {"noteId": UNKNOWN_NOTE}


def test_reject_refuses_a_caller_who_is_not_the_named_holder(consortium: Consortium) -> None:
    c = consortium
    note_id = c.issue()
    with pytest.raises(errors.NotHolder) as exc:
        c.ledger.reject(c.core, note_id)
    assert exc.value.arguments == {"noteId": note_id, "caller": c.core.address}


def test_reject_refuses_a_revoked_note(consortium: Consortium) -> None:
    c = consortium
    note_id = c.issue()
    c.ledger.revoke(c.core, note_id)
    with pytest.raises(errors.NoteNotPending) as exc:
        c.ledger.reject(c.suppliers[0], note_id)
    assert exc.value.arguments == {"noteId": note_id, "status": NoteStatus.REVOKED}


def test_reject_refuses_an_accepted_note(consortium: Consortium) -> None:
    c = consortium
    note_id = c.active_note()
    with pytest.raises(errors.NoteNotPending) as exc:
        c.ledger.reject(c.suppliers[0], note_id)
    assert exc.value.arguments == {"noteId": note_id, "status": NoteStatus.ACTIVE}


def test_reject_refuses_a_frozen_note(consortium: Consortium) -> None:
    c = consortium
    note_id = c.issue()
    c.ledger.freeze(c.operator, note_id, b"dispute")
    with pytest.raises(errors.NoteIsFrozen) as exc:
        c.ledger.reject(c.suppliers[0], note_id)
    assert exc.value.arguments == {"noteId": note_id}


def test_reject_refuses_a_suspended_holder(consortium: Consortium) -> None:
    c = consortium
    holder = c.suppliers[0]
    note_id = c.issue(to=holder)
    c.ledger.suspend_member(c.operator, holder.address)
    with pytest.raises(errors.MemberNotActive) as exc:
        c.ledger.reject(holder, note_id)
    assert exc.value.arguments == {"account": holder.address}


def test_reject_refuses_a_holder_who_lost_the_supplier_role(consortium: Consortium) -> None:
    c = consortium
    holder = c.suppliers[0]
    note_id = c.issue(to=holder)
    c.ledger.set_member_roles(c.operator, holder.address, Role.AUDITOR)
    with pytest.raises(errors.MissingRole) as exc:
        c.ledger.reject(holder, note_id)
    assert exc.value.arguments == {"account": holder.address, "role": int(Role.SUPPLIER)}


# ---------------------------------------------------------------- revoke


def test_revoke_marks_the_note_revoked_and_emits_note_revoked(consortium: Consortium) -> None:
    c = consortium
    note_id = c.issue(amount=500)
    result = c.ledger.revoke(c.core, note_id)
    assert only_event(result, "NoteRevoked") == {"noteId": note_id, "obligor": c.core.address, "amount": 500}
    note = c.ledger.get_note(note_id)
    assert (note.status, note.holder) == (NoteStatus.REVOKED, c.suppliers[0].address)


def test_revoke_releases_the_amount_from_the_obligors_outstanding(consortium: Consortium) -> None:
    c = consortium
    c.issue(amount=300)
    note_id = c.issue(amount=500)
    c.ledger.revoke(c.core, note_id)
    assert c.ledger.credit_of(c.core.address) == (DEFAULT_LIMIT, 300)


def test_revoke_releases_the_document_hash(consortium: Consortium) -> None:
    c = consortium
    note_id = c.issue()
    doc = c.ledger.get_note(note_id).document_hash
    c.ledger.revoke(c.core, note_id)
    assert c.ledger.document_root(doc) == 0


def test_revoke_refuses_an_unknown_note(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NoteNotFound) as exc:
        c.ledger.revoke(c.core, UNKNOWN_NOTE)
    assert exc.value.arguments == {"noteId": UNKNOWN_NOTE}


def test_revoke_refuses_a_caller_who_is_not_the_obligor(consortium: Consortium) -> None:
    c = consortium
    note_id = c.issue()
    holder = c.suppliers[0]
    with pytest.raises(errors.NotObligor) as exc:
        c.ledger.revoke(holder, note_id)
    assert exc.value.arguments == {"noteId": note_id, "caller": holder.address}


def test_revoke_refuses_an_accepted_note(consortium: Consortium) -> None:
    c = consortium
    note_id = c.active_note()
    with pytest.raises(errors.NoteNotPending) as exc:
        c.ledger.revoke(c.core, note_id)
    assert exc.value.arguments == {"noteId": note_id, "status": NoteStatus.ACTIVE}


def test_revoke_refuses_a_rejected_note(consortium: Consortium) -> None:
    c = consortium
    note_id = c.issue()
    c.ledger.reject(c.suppliers[0], note_id)
    with pytest.raises(errors.NoteNotPending) as exc:
        c.ledger.revoke(c.core, note_id)
    assert exc.value.arguments == {"noteId": note_id, "status": NoteStatus.REJECTED}


def test_revoke_refuses_a_frozen_note(consortium: Consortium) -> None:
    c = consortium
    note_id = c.issue()
    c.ledger.freeze(c.operator, note_id, b"court order")
    with pytest.raises(errors.NoteIsFrozen) as exc:
        c.ledger.revoke(c.core, note_id)
    assert exc.value.arguments == {"noteId": note_id}


def test_revoke_refuses_a_suspended_obligor(consortium: Consortium) -> None:
    c = consortium
    note_id = c.issue()
    c.ledger.suspend_member(c.operator, c.core.address)
    with pytest.raises(errors.MemberNotActive) as exc:
        c.ledger.revoke(c.core, note_id)
    assert exc.value.arguments == {"account": c.core.address}


def test_revoke_refuses_an_obligor_who_lost_the_core_enterprise_role(consortium: Consortium) -> None:
    c = consortium
    note_id = c.issue()
    c.ledger.set_member_roles(c.operator, c.core.address, Role.SUPPLIER)
    with pytest.raises(errors.MissingRole) as exc:
        c.ledger.revoke(c.core, note_id)
    assert exc.value.arguments == {"account": c.core.address, "role": int(Role.CORE_ENTERPRISE)}
