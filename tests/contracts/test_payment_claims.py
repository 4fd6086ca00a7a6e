"""A claim of an off-chain payment ends with the note's next payment (in tokens, by settleRoot or
confirmed), with a write-off, or when the obligor withdraws it: a stale claim can never be confirmed
into a second payment."""

from __future__ import annotations

import pytest

from service.domain import MAX_SETTLE_BATCH, NoteStatus
from service.ledger import errors
from tests.consortium import Consortium
from tests.contracts.helpers import ZERO_HASH, at_maturity, only_event

AMOUNT = 1_000


def claimed_note(c: Consortium, claim: int = AMOUNT, *, funded: int = AMOUNT) -> int:
    """An active matured note of supplier 0 with the core's claim of `claim` paid off-chain; the core
    holds and approves `funded` tokens."""
    note = c.active_note(AMOUNT, c.suppliers[0], days=1)
    c.fund_tokens(c.core, funded)
    at_maturity(c, note)
    c.ledger.claim_payment(c.core, note, claim, b"wire-7")
    return note


def test_pay_in_tokens_clears_a_pending_claim(consortium: Consortium) -> None:
    c = consortium
    note = claimed_note(c, 400)
    c.ledger.pay(c.core, note, 100)
    assert c.ledger.payment_claim(note) == ZERO_HASH


def test_a_claim_cleared_by_a_partial_payment_cannot_then_be_confirmed(consortium: Consortium) -> None:
    c = consortium
    note = claimed_note(c, 400)
    c.ledger.pay(c.core, note, 100)
    with pytest.raises(errors.PaymentClaimMismatch):
        c.ledger.confirm_payment(c.suppliers[0], note, 400, b"wire-7")
    assert c.ledger.paid_amount(note) == 100


def test_settle_root_clears_a_pending_claim(consortium: Consortium) -> None:
    c = consortium
    note = claimed_note(c)
    c.ledger.settle_root(c.core, note, 0, MAX_SETTLE_BATCH)
    assert c.ledger.payment_claim(note) == ZERO_HASH


def test_write_off_clears_a_pending_claim(consortium: Consortium) -> None:
    c = consortium
    note = claimed_note(c)
    c.chain.advance_time(c.ledger.grace_period())
    c.ledger.write_off(c.operator, note, b"default-1")
    assert c.ledger.payment_claim(note) == ZERO_HASH


def test_confirm_payment_clears_the_claim_it_confirms(consortium: Consortium) -> None:
    c = consortium
    note = claimed_note(c, 400)
    c.ledger.confirm_payment(c.suppliers[0], note, 400, b"wire-7")
    assert c.ledger.payment_claim(note) == ZERO_HASH


def test_withdraw_payment_claim_deletes_it_and_emits_payment_claim_withdrawn(consortium: Consortium) -> None:
    c = consortium
    note = claimed_note(c)
    result = c.ledger.withdraw_payment_claim(c.core, note)
    assert only_event(result, "PaymentClaimWithdrawn") == {
        "noteId": note,
        "obligor": c.core.address,
        "holder": c.suppliers[0].address,
    }
    assert c.ledger.payment_claim(note) == ZERO_HASH
    assert c.ledger.get_note(note).status == NoteStatus.ACTIVE


def test_a_withdrawn_claim_cannot_be_confirmed(consortium: Consortium) -> None:
    c = consortium
    note = claimed_note(c)
    c.ledger.withdraw_payment_claim(c.core, note)
    with pytest.raises(errors.PaymentClaimMismatch):
        c.ledger.confirm_payment(c.suppliers[0], note, AMOUNT, b"wire-7")


def test_withdraw_payment_claim_refuses_a_note_without_a_claim(consortium: Consortium) -> None:
    c = consortium
    note = c.active_note(AMOUNT, c.suppliers[0], days=1)
    with pytest.raises(errors.NoPaymentClaim) as exc:
        c.ledger.withdraw_payment_claim(c.core, note)
    assert exc.value.arguments == {"noteId": note}


def test_withdraw_payment_claim_refuses_the_holder(consortium: Consortium) -> None:
    c = consortium
    note = claimed_note(c)
    holder = c.suppliers[0]
    with pytest.raises(errors.NotObligor) as exc:
        c.ledger.withdraw_payment_claim(holder, note)
    assert exc.value.arguments == {"noteId": note, "caller": holder.address}
    assert c.ledger.payment_claim(note) != ZERO_HASH


def test_withdraw_payment_claim_refuses_an_unknown_note(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NoteNotFound):
        c.ledger.withdraw_payment_claim(c.core, 99 << 32)
