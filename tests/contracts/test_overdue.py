"""Overdue and write-off: a live note unpaid at maturity plus the grace period is overdue (derivable
with isOverdue at any time; anyone may mark it, with an event); the operator may then write off what
remains of it, which frees that amount from the obligor's outstanding credit."""

from __future__ import annotations

import pytest

from service.domain import NoteStatus
from service.ledger import errors
from service.ledger.types import reference_bytes
from tests.consortium import DAY, Consortium
from tests.contracts.helpers import at_maturity, only_event, part

AMOUNT = 1_000
UNKNOWN_NOTE = 99 << 32


def overdue_at(c: Consortium, note: int) -> int:
    """The first second at which `note` is overdue: maturity plus the grace period."""
    return c.ledger.get_note(note).maturity + c.ledger.grace_period()


def past_grace(c: Consortium, amount: int = AMOUNT) -> int:
    """An active one-day note of supplier 0; the next transaction runs at maturity + grace period."""
    note = c.active_note(amount, c.suppliers[0], days=1)
    at_maturity(c, note, c.ledger.grace_period())
    return note


def outstanding(c: Consortium) -> int:
    return c.ledger.credit_of(c.core.address)[1]


# ---------------------------------------------------------------- isOverdue


def test_is_overdue_turns_true_at_maturity_plus_grace_without_marking(consortium: Consortium) -> None:
    c = consortium
    note = c.active_note(AMOUNT, days=1)
    c.chain.advance_time(overdue_at(c, note) - 1 - c.chain.now())
    assert c.ledger.is_overdue(note) is False
    c.chain.advance_time(1)
    assert c.ledger.is_overdue(note) is True
    assert c.ledger.get_note(note).status == NoteStatus.ACTIVE


def test_is_overdue_is_false_at_maturity_within_the_grace_period(consortium: Consortium) -> None:
    c = consortium
    note = c.active_note(AMOUNT, days=1)
    c.chain.advance_time(c.ledger.get_note(note).maturity - c.chain.now())
    assert c.ledger.is_overdue(note) is False


def test_is_overdue_follows_the_grace_period_in_force(consortium: Consortium) -> None:
    c = consortium
    note = c.active_note(AMOUNT, days=1)
    c.chain.advance_time(c.ledger.get_note(note).maturity - c.chain.now())
    c.ledger.set_grace_period(c.operator, 0)
    assert c.ledger.is_overdue(note) is True


def test_is_overdue_is_false_for_notes_that_are_not_live_and_unknown_notes(consortium: Consortium) -> None:
    c = consortium
    holder, other, _ = c.suppliers
    pending = c.issue(AMOUNT, days=1)
    split = c.active_note(AMOUNT, holder, days=1)
    child, _ = c.ledger.split(holder, split, [part(holder, 600), part(other, 400)]).created_note_ids()
    c.fund_tokens(c.core, 600)
    at_maturity(c, split)
    c.ledger.pay(c.core, child, 600)
    c.chain.advance_time(c.ledger.grace_period() + DAY)
    assert [c.ledger.is_overdue(n) for n in (pending, split, child, UNKNOWN_NOTE)] == [False] * 4


# ---------------------------------------------------------------- markOverdue


def test_mark_overdue_by_anyone_makes_the_note_overdue(consortium: Consortium) -> None:
    c = consortium
    note = past_grace(c)
    c.ledger.mark_overdue(c.outsider, note)
    assert c.ledger.get_note(note).status == NoteStatus.OVERDUE
    assert c.ledger.is_overdue(note) is True


def test_mark_overdue_emits_note_overdue_with_the_unpaid_remainder(consortium: Consortium) -> None:
    c = consortium
    note = c.active_note(AMOUNT, c.suppliers[0], days=1)
    c.fund_tokens(c.core, 300)
    at_maturity(c, note)
    c.ledger.pay(c.core, note, 300)
    at_maturity(c, note, c.ledger.grace_period())
    result = c.ledger.mark_overdue(c.outsider, note)
    assert only_event(result, "NoteOverdue") == {
        "noteId": note,
        "obligor": c.core.address,
        "holder": c.suppliers[0].address,
        "remaining": 700,
    }


def test_an_overdue_note_still_counts_toward_the_obligors_outstanding(consortium: Consortium) -> None:
    c = consortium
    note = past_grace(c)
    c.ledger.mark_overdue(c.outsider, note)
    assert outstanding(c) == AMOUNT


def test_mark_overdue_applies_to_a_frozen_note(consortium: Consortium) -> None:
    c = consortium
    note = c.active_note(AMOUNT, days=1)
    c.ledger.freeze(c.operator, note, b"dispute")
    at_maturity(c, note, c.ledger.grace_period())
    c.ledger.mark_overdue(c.outsider, note)
    assert (c.ledger.get_note(note).status, c.ledger.get_note(note).frozen) == (NoteStatus.OVERDUE, True)


def test_mark_overdue_refuses_a_note_one_second_before_maturity_plus_grace(consortium: Consortium) -> None:
    c = consortium
    note = c.active_note(AMOUNT, days=1)
    at_maturity(c, note, c.ledger.grace_period() - 1)
    with pytest.raises(errors.NotOverdueYet) as exc:
        c.ledger.mark_overdue(c.outsider, note)
    assert exc.value.arguments == {"noteId": note, "overdueAt": overdue_at(c, note)}


def test_mark_overdue_refuses_an_unknown_note(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NoteNotFound) as exc:
        c.ledger.mark_overdue(c.outsider, UNKNOWN_NOTE)
    assert exc.value.arguments == {"noteId": UNKNOWN_NOTE}


def test_mark_overdue_refuses_a_pending_note(consortium: Consortium) -> None:
    c = consortium
    note = c.issue(AMOUNT, days=1)
    at_maturity(c, note, c.ledger.grace_period())
    with pytest.raises(errors.NoteNotActive) as exc:
        c.ledger.mark_overdue(c.outsider, note)
    assert exc.value.arguments == {"noteId": note, "status": NoteStatus.PENDING}


def test_mark_overdue_refuses_a_note_already_overdue(consortium: Consortium) -> None:
    c = consortium
    note = past_grace(c)
    c.ledger.mark_overdue(c.outsider, note)
    with pytest.raises(errors.NoteNotActive) as exc:
        c.ledger.mark_overdue(c.outsider, note)
    assert exc.value.arguments == {"noteId": note, "status": NoteStatus.OVERDUE}


def test_mark_overdue_refuses_a_settled_note(consortium: Consortium) -> None:
    c = consortium
    note = c.active_note(AMOUNT, days=1)
    c.fund_tokens(c.core, AMOUNT)
    at_maturity(c, note)
    c.ledger.pay(c.core, note, AMOUNT)
    c.chain.advance_time(c.ledger.grace_period())
    with pytest.raises(errors.NoteNotActive) as exc:
        c.ledger.mark_overdue(c.outsider, note)
    assert exc.value.arguments == {"noteId": note, "status": NoteStatus.SETTLED}


# ---------------------------------------------------------------- writeOff


def test_write_off_closes_the_note_and_frees_its_amount_from_outstanding(consortium: Consortium) -> None:
    c = consortium
    c.active_note(5_000)
    note = past_grace(c)
    assert outstanding(c) == 5_000 + AMOUNT
    c.ledger.write_off(c.operator, note, b"default-1")
    assert c.ledger.get_note(note).status == NoteStatus.WRITTEN_OFF
    assert c.ledger.is_overdue(note) is False
    assert outstanding(c) == 5_000


def test_write_off_emits_note_written_off_with_the_decision_reference(consortium: Consortium) -> None:
    c = consortium
    note = past_grace(c)
    result = c.ledger.write_off(c.operator, note, b"default-1")
    assert only_event(result, "NoteWrittenOff") == {
        "noteId": note,
        "obligor": c.core.address,
        "holder": c.suppliers[0].address,
        "amount": AMOUNT,
        "decisionReference": reference_bytes(b"default-1"),
    }


def test_write_off_after_a_partial_payment_writes_off_only_the_remainder(consortium: Consortium) -> None:
    c = consortium
    note = c.active_note(AMOUNT, c.suppliers[0], days=1)
    c.fund_tokens(c.core, 300)
    at_maturity(c, note)
    c.ledger.pay(c.core, note, 300)
    at_maturity(c, note, c.ledger.grace_period())
    result = c.ledger.write_off(c.operator, note, b"default-1")
    assert only_event(result, "NoteWrittenOff")["amount"] == 700
    assert outstanding(c) == 0


def test_write_off_applies_to_a_note_marked_overdue(consortium: Consortium) -> None:
    c = consortium
    note = past_grace(c)
    c.ledger.mark_overdue(c.outsider, note)
    c.ledger.write_off(c.operator, note, b"default-1")
    assert c.ledger.get_note(note).status == NoteStatus.WRITTEN_OFF


def test_a_written_off_note_can_no_longer_be_paid(consortium: Consortium) -> None:
    c = consortium
    note = past_grace(c)
    c.fund_tokens(c.core, AMOUNT)
    c.ledger.write_off(c.operator, note, b"default-1")
    with pytest.raises(errors.NoteNotPayable) as exc:
        c.ledger.pay(c.core, note, AMOUNT)
    assert exc.value.arguments == {"noteId": note, "status": NoteStatus.WRITTEN_OFF}


def test_write_off_refuses_a_caller_who_is_not_the_operator(consortium: Consortium) -> None:
    c = consortium
    note = past_grace(c)
    with pytest.raises(errors.NotOperator) as exc:
        c.ledger.write_off(c.bank, note, b"default-1")
    assert exc.value.arguments == {"caller": c.bank.address}


def test_write_off_refuses_a_zero_decision_reference(consortium: Consortium) -> None:
    c = consortium
    note = past_grace(c)
    with pytest.raises(errors.ZeroReference):
        c.ledger.write_off(c.operator, note, bytes(32))
    assert c.ledger.get_note(note).status == NoteStatus.ACTIVE


def test_write_off_refuses_an_unknown_note(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NoteNotFound) as exc:
        c.ledger.write_off(c.operator, UNKNOWN_NOTE, b"default-1")
    assert exc.value.arguments == {"noteId": UNKNOWN_NOTE}


def test_write_off_refuses_a_pending_note(consortium: Consortium) -> None:
    c = consortium
    note = c.issue(AMOUNT, days=1)
    at_maturity(c, note, c.ledger.grace_period())
    with pytest.raises(errors.NoteNotPayable) as exc:
        c.ledger.write_off(c.operator, note, b"default-1")
    assert exc.value.arguments == {"noteId": note, "status": NoteStatus.PENDING}


def test_write_off_refuses_a_split_note(consortium: Consortium) -> None:
    c = consortium
    holder, other, _ = c.suppliers
    note = c.active_note(AMOUNT, holder, days=1)
    c.ledger.split(holder, note, [part(holder, 600), part(other, 400)])
    at_maturity(c, note, c.ledger.grace_period())
    with pytest.raises(errors.NoteNotPayable) as exc:
        c.ledger.write_off(c.operator, note, b"default-1")
    assert exc.value.arguments == {"noteId": note, "status": NoteStatus.SPLIT}


def test_write_off_refuses_a_settled_note(consortium: Consortium) -> None:
    c = consortium
    note = c.active_note(AMOUNT, days=1)
    c.fund_tokens(c.core, AMOUNT)
    at_maturity(c, note)
    c.ledger.pay(c.core, note, AMOUNT)
    c.chain.advance_time(c.ledger.grace_period())
    with pytest.raises(errors.NoteNotPayable) as exc:
        c.ledger.write_off(c.operator, note, b"default-1")
    assert exc.value.arguments == {"noteId": note, "status": NoteStatus.SETTLED}


def test_write_off_refuses_a_note_already_written_off(consortium: Consortium) -> None:
    c = consortium
    note = past_grace(c)
    c.ledger.write_off(c.operator, note, b"default-1")
    with pytest.raises(errors.NoteNotPayable) as exc:
        c.ledger.write_off(c.operator, note, b"default-2")
    assert exc.value.arguments == {"noteId": note, "status": NoteStatus.WRITTEN_OFF}


def test_write_off_refuses_a_note_one_second_before_maturity_plus_grace(consortium: Consortium) -> None:
    c = consortium
    note = c.active_note(AMOUNT, days=1)
    at_maturity(c, note, c.ledger.grace_period() - 1)
    with pytest.raises(errors.NotOverdueYet) as exc:
        c.ledger.write_off(c.operator, note, b"default-1")
    assert exc.value.arguments == {"noteId": note, "overdueAt": overdue_at(c, note)}


def test_a_note_written_off_while_frozen_cannot_be_unfrozen(consortium: Consortium) -> None:
    c = consortium
    note = past_grace(c)
    c.ledger.freeze(c.operator, note, b"court order")
    c.ledger.write_off(c.operator, note, b"default-1")
    with pytest.raises(errors.NoteNotLive) as exc:
        c.ledger.unfreeze(c.operator, note)
    assert exc.value.arguments == {"noteId": note, "status": NoteStatus.WRITTEN_OFF}
    state = c.ledger.get_note(note)
    assert state.frozen and state.status == NoteStatus.WRITTEN_OFF
