"""Paying a note on or after maturity: the obligor pays it in settlement tokens (in full or in part),
or claims an off-chain payment that the holder confirms. Payments reduce the obligor's outstanding
credit. (Settling a whole tree: test_settle_root.py.)"""

from __future__ import annotations

import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from service.domain import NoteStatus
from service.ledger import errors
from service.ledger.types import reference_bytes
from tests.consortium import Consortium
from tests.contracts.helpers import (
    ZERO_HASH,
    at_maturity,
    mine_reverting,
    only_event,
    part,
    token_events,
)

AMOUNT = 1_000
UNKNOWN_NOTE = 99 << 32


def matured_note(c: Consortium, amount: int = AMOUNT, *, funded: int | None = None) -> int:
    """An active note of supplier 0 (one-day tenor); the core is minted `funded` tokens (default:
    the amount) and approves them to the ledger; the next transaction runs at maturity."""
    note = c.active_note(amount, c.suppliers[0], days=1)
    c.fund_tokens(c.core, amount if funded is None else funded)
    at_maturity(c, note)
    return note


def claim_hash(amount: int, reference: bytes) -> bytes:
    """What the ledger stores for a claim: keccak256(abi.encode(amount, reference))."""
    return keccak(abi_encode(["uint256", "bytes32"], [amount, reference_bytes(reference)]))


def outstanding(c: Consortium) -> int:
    return c.ledger.credit_of(c.core.address)[1]


# ---------------------------------------------------------------- pay


def test_pay_in_full_settles_the_note_and_pays_its_holder(consortium: Consortium) -> None:
    c = consortium
    note = matured_note(c)
    c.ledger.pay(c.core, note, AMOUNT)
    assert c.ledger.get_note(note).status == NoteStatus.SETTLED
    assert c.ledger.paid_amount(note) == 0
    assert c.token.balance_of(c.suppliers[0].address) == AMOUNT
    assert c.token.balance_of(c.core.address) == 0


def test_pay_emits_note_paid_and_moves_the_tokens_in_the_same_transaction(consortium: Consortium) -> None:
    c = consortium
    note = matured_note(c)
    holder = c.suppliers[0].address
    result = c.ledger.pay(c.core, note, AMOUNT)
    assert only_event(result, "NotePaid") == {
        "noteId": note,
        "obligor": c.core.address,
        "holder": holder,
        "amount": AMOUNT,
        "remaining": 0,
        "paymentReference": ZERO_HASH,
    }
    assert token_events(c, result) == [("Transfer", {"from": c.core.address, "to": holder, "value": AMOUNT})]


def test_pay_in_full_reduces_the_obligors_outstanding_by_the_amount(consortium: Consortium) -> None:
    c = consortium
    c.active_note(5_000)
    note = matured_note(c)
    assert outstanding(c) == 5_000 + AMOUNT
    c.ledger.pay(c.core, note, AMOUNT)
    assert outstanding(c) == 5_000


def test_a_partial_payment_keeps_the_note_active_with_the_remainder(consortium: Consortium) -> None:
    c = consortium
    note = matured_note(c)
    result = c.ledger.pay(c.core, note, 400)
    assert only_event(result, "NotePaid")["remaining"] == 600
    assert c.ledger.get_note(note).status == NoteStatus.ACTIVE
    assert c.ledger.paid_amount(note) == 400
    assert outstanding(c) == 600
    assert c.token.balance_of(c.suppliers[0].address) == 400


def test_partial_payments_add_up_and_the_last_one_settles_the_note(consortium: Consortium) -> None:
    c = consortium
    note = matured_note(c)
    c.ledger.pay(c.core, note, 400)
    second = c.ledger.pay(c.core, note, 350)
    assert (only_event(second, "NotePaid")["remaining"], c.ledger.paid_amount(note)) == (250, 750)
    assert outstanding(c) == 250
    last = c.ledger.pay(c.core, note, 250)
    assert (only_event(last, "NotePaid")["amount"], only_event(last, "NotePaid")["remaining"]) == (250, 0)
    assert c.ledger.get_note(note).status == NoteStatus.SETTLED
    assert c.ledger.paid_amount(note) == 0
    assert outstanding(c) == 0
    assert c.token.balance_of(c.suppliers[0].address) == AMOUNT


def test_pay_settles_an_overdue_note(consortium: Consortium) -> None:
    c = consortium
    note = matured_note(c)
    at_maturity(c, note, c.ledger.grace_period())
    c.ledger.mark_overdue(c.outsider, note)
    c.ledger.pay(c.core, note, AMOUNT)
    assert c.ledger.get_note(note).status == NoteStatus.SETTLED


def test_pay_refuses_an_unknown_note(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NoteNotFound) as exc:
        c.ledger.pay(c.core, UNKNOWN_NOTE, 1)
    assert exc.value.arguments == {"noteId": UNKNOWN_NOTE}


def test_pay_refuses_a_pending_note(consortium: Consortium) -> None:
    c = consortium
    note = c.issue(AMOUNT, days=1)
    at_maturity(c, note)
    with pytest.raises(errors.NoteNotPayable) as exc:
        c.ledger.pay(c.core, note, AMOUNT)
    assert exc.value.arguments == {"noteId": note, "status": NoteStatus.PENDING}


def test_pay_refuses_a_split_note(consortium: Consortium) -> None:
    c = consortium
    holder, other, _ = c.suppliers
    note = c.active_note(AMOUNT, holder, days=1)
    c.ledger.split(holder, note, [part(holder, 600), part(other, 400)])
    at_maturity(c, note)
    with pytest.raises(errors.NoteNotPayable) as exc:
        c.ledger.pay(c.core, note, AMOUNT)
    assert exc.value.arguments == {"noteId": note, "status": NoteStatus.SPLIT}


def test_pay_refuses_a_settled_note(consortium: Consortium) -> None:
    c = consortium
    note = matured_note(c, funded=AMOUNT + 1)
    c.ledger.pay(c.core, note, AMOUNT)
    with pytest.raises(errors.NoteNotPayable) as exc:
        c.ledger.pay(c.core, note, 1)
    assert exc.value.arguments == {"noteId": note, "status": NoteStatus.SETTLED}


def test_pay_refuses_a_frozen_note(consortium: Consortium) -> None:
    c = consortium
    note = matured_note(c)
    c.ledger.freeze(c.operator, note, b"dispute")
    with pytest.raises(errors.NoteIsFrozen) as exc:
        c.ledger.pay(c.core, note, AMOUNT)
    assert exc.value.arguments == {"noteId": note}


def test_pay_refuses_a_caller_who_is_not_the_obligor(consortium: Consortium) -> None:
    c = consortium
    note = matured_note(c)
    c.fund_tokens(c.bank, AMOUNT)
    with pytest.raises(errors.NotObligor) as exc:
        c.ledger.pay(c.bank, note, AMOUNT)
    assert exc.value.arguments == {"noteId": note, "caller": c.bank.address}


def test_pay_refuses_a_note_one_second_before_maturity(consortium: Consortium) -> None:
    c = consortium
    note = c.active_note(AMOUNT, days=1)
    c.fund_tokens(c.core, AMOUNT)
    maturity = at_maturity(c, note, -1)
    with pytest.raises(errors.NoteNotMatured) as exc:
        c.ledger.pay(c.core, note, AMOUNT)
    assert exc.value.arguments == {"noteId": note, "maturity": maturity}


def test_pay_refuses_a_zero_amount(consortium: Consortium) -> None:
    c = consortium
    note = matured_note(c)
    with pytest.raises(errors.ZeroAmount) as exc:
        c.ledger.pay(c.core, note, 0)
    assert exc.value.arguments == {"partIndex": 0}


def test_pay_refuses_more_than_the_face_amount(consortium: Consortium) -> None:
    c = consortium
    note = matured_note(c, funded=AMOUNT + 1)
    with pytest.raises(errors.PaymentTooLarge) as exc:
        c.ledger.pay(c.core, note, AMOUNT + 1)
    assert exc.value.arguments == {"noteId": note, "amount": AMOUNT + 1, "remaining": AMOUNT}


def test_pay_refuses_more_than_the_remainder_after_a_partial_payment(consortium: Consortium) -> None:
    c = consortium
    note = matured_note(c)
    c.ledger.pay(c.core, note, 400)
    with pytest.raises(errors.PaymentTooLarge) as exc:
        c.ledger.pay(c.core, note, 601)
    assert exc.value.arguments == {"noteId": note, "amount": 601, "remaining": 600}


def test_pay_refuses_a_currency_without_a_settlement_token(consortium: Consortium) -> None:
    c = consortium
    holder = c.suppliers[0]
    note = c.ledger.issue(c.core, holder.address, AMOUNT, "EUR", c.maturity(1), c.next_document())
    note_id = note.created_note_ids()[0]
    c.ledger.accept(holder, note_id)
    at_maturity(c, note_id)
    with pytest.raises(errors.SettlementTokenNotSet) as exc:
        c.ledger.pay(c.core, note_id, AMOUNT)
    assert exc.value.arguments == {"currency": b"EUR"}


def test_pay_refuses_when_the_obligor_has_too_few_tokens(consortium: Consortium) -> None:
    c = consortium
    note = c.active_note(AMOUNT, days=1)
    c.fund_tokens(c.core, AMOUNT - 1, AMOUNT)
    at_maturity(c, note)
    with pytest.raises(errors.ERC20InsufficientBalance) as exc:
        c.ledger.pay(c.core, note, AMOUNT)
    assert exc.value.arguments == {"sender": c.core.address, "balance": AMOUNT - 1, "needed": AMOUNT}


def test_pay_refuses_when_the_obligors_allowance_is_too_low(consortium: Consortium) -> None:
    c = consortium
    note = c.active_note(AMOUNT, days=1)
    c.fund_tokens(c.core, AMOUNT, AMOUNT - 1)
    at_maturity(c, note)
    with pytest.raises(errors.ERC20InsufficientAllowance) as exc:
        c.ledger.pay(c.core, note, AMOUNT)
    assert exc.value.arguments == {"spender": c.ledger.address, "allowance": AMOUNT - 1, "needed": AMOUNT}


def test_a_failed_payment_changes_nothing(consortium: Consortium) -> None:
    c = consortium
    note = c.active_note(AMOUNT, days=1)
    c.fund_tokens(c.core, AMOUNT - 1, AMOUNT)
    at_maturity(c, note)
    mine_reverting(c, c.ledger, c.core, "pay", note, AMOUNT)
    assert c.ledger.get_note(note).status == NoteStatus.ACTIVE
    assert c.ledger.paid_amount(note) == 0
    assert outstanding(c) == AMOUNT
    assert c.token.balance_of(c.core.address) == AMOUNT - 1
    assert c.token.balance_of(c.suppliers[0].address) == 0


# ---------------------------------------------------------------- claimPayment


def test_claim_payment_stores_the_claim_and_emits_payment_claimed(consortium: Consortium) -> None:
    c = consortium
    note = matured_note(c)
    result = c.ledger.claim_payment(c.core, note, 400, b"wire-7")
    assert only_event(result, "PaymentClaimed") == {
        "noteId": note,
        "obligor": c.core.address,
        "holder": c.suppliers[0].address,
        "amount": 400,
        "paymentReference": reference_bytes(b"wire-7"),
    }
    assert c.ledger.payment_claim(note) == claim_hash(400, b"wire-7")


def test_a_claim_alone_pays_nothing(consortium: Consortium) -> None:
    c = consortium
    note = matured_note(c)
    c.ledger.claim_payment(c.core, note, 400, b"wire-7")
    assert (c.ledger.get_note(note).status, c.ledger.paid_amount(note)) == (NoteStatus.ACTIVE, 0)
    assert outstanding(c) == AMOUNT


def test_a_new_claim_replaces_an_unconfirmed_one(consortium: Consortium) -> None:
    c = consortium
    note = matured_note(c)
    c.ledger.claim_payment(c.core, note, 400, b"wire-7")
    c.ledger.claim_payment(c.core, note, 300, b"wire-8")
    assert c.ledger.payment_claim(note) == claim_hash(300, b"wire-8")
    with pytest.raises(errors.PaymentClaimMismatch):
        c.ledger.confirm_payment(c.suppliers[0], note, 400, b"wire-7")


def test_claim_payment_refuses_a_zero_reference(consortium: Consortium) -> None:
    c = consortium
    note = matured_note(c)
    with pytest.raises(errors.ZeroReference) as exc:
        c.ledger.claim_payment(c.core, note, 400, ZERO_HASH)
    assert exc.value.arguments == {}


def test_claim_payment_refuses_an_unknown_note(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NoteNotFound) as exc:
        c.ledger.claim_payment(c.core, UNKNOWN_NOTE, 400, b"wire-7")
    assert exc.value.arguments == {"noteId": UNKNOWN_NOTE}


def test_claim_payment_refuses_a_settled_note(consortium: Consortium) -> None:
    c = consortium
    note = matured_note(c)
    c.ledger.pay(c.core, note, AMOUNT)
    with pytest.raises(errors.NoteNotPayable) as exc:
        c.ledger.claim_payment(c.core, note, 1, b"wire-7")
    assert exc.value.arguments == {"noteId": note, "status": NoteStatus.SETTLED}


def test_claim_payment_refuses_a_frozen_note(consortium: Consortium) -> None:
    c = consortium
    note = matured_note(c)
    c.ledger.freeze(c.operator, note, b"dispute")
    with pytest.raises(errors.NoteIsFrozen) as exc:
        c.ledger.claim_payment(c.core, note, 400, b"wire-7")
    assert exc.value.arguments == {"noteId": note}


def test_claim_payment_refuses_a_caller_who_is_not_the_obligor(consortium: Consortium) -> None:
    c = consortium
    note = matured_note(c)
    holder = c.suppliers[0]
    with pytest.raises(errors.NotObligor) as exc:
        c.ledger.claim_payment(holder, note, 400, b"wire-7")
    assert exc.value.arguments == {"noteId": note, "caller": holder.address}


def test_claim_payment_refuses_a_note_before_maturity(consortium: Consortium) -> None:
    c = consortium
    note = c.active_note(AMOUNT, days=1)
    maturity = at_maturity(c, note, -1)
    with pytest.raises(errors.NoteNotMatured) as exc:
        c.ledger.claim_payment(c.core, note, 400, b"wire-7")
    assert exc.value.arguments == {"noteId": note, "maturity": maturity}


def test_claim_payment_refuses_a_zero_amount(consortium: Consortium) -> None:
    c = consortium
    note = matured_note(c)
    with pytest.raises(errors.ZeroAmount) as exc:
        c.ledger.claim_payment(c.core, note, 0, b"wire-7")
    assert exc.value.arguments == {"partIndex": 0}


def test_claim_payment_refuses_more_than_the_remainder(consortium: Consortium) -> None:
    c = consortium
    note = matured_note(c)
    c.ledger.pay(c.core, note, 400)
    with pytest.raises(errors.PaymentTooLarge) as exc:
        c.ledger.claim_payment(c.core, note, 601, b"wire-7")
    assert exc.value.arguments == {"noteId": note, "amount": 601, "remaining": 600}


# ---------------------------------------------------------------- confirmPayment


def test_confirm_payment_in_full_settles_the_note_without_moving_tokens(consortium: Consortium) -> None:
    c = consortium
    note = matured_note(c)
    holder = c.suppliers[0]
    c.ledger.claim_payment(c.core, note, AMOUNT, b"wire-7")
    result = c.ledger.confirm_payment(holder, note, AMOUNT, b"wire-7")
    assert only_event(result, "NotePaid") == {
        "noteId": note,
        "obligor": c.core.address,
        "holder": holder.address,
        "amount": AMOUNT,
        "remaining": 0,
        "paymentReference": reference_bytes(b"wire-7"),
    }
    assert token_events(c, result) == []
    assert c.ledger.get_note(note).status == NoteStatus.SETTLED
    assert c.ledger.payment_claim(note) == ZERO_HASH
    assert outstanding(c) == 0
    assert (c.token.balance_of(c.core.address), c.token.balance_of(holder.address)) == (AMOUNT, 0)


def test_a_confirmed_partial_payment_leaves_the_remainder_to_pay_in_tokens(consortium: Consortium) -> None:
    c = consortium
    note = matured_note(c)
    holder = c.suppliers[0]
    c.ledger.claim_payment(c.core, note, 300, b"wire-7")
    result = c.ledger.confirm_payment(holder, note, 300, b"wire-7")
    assert only_event(result, "NotePaid")["remaining"] == 700
    assert (c.ledger.get_note(note).status, c.ledger.paid_amount(note)) == (NoteStatus.ACTIVE, 300)
    assert outstanding(c) == 700
    c.ledger.pay(c.core, note, 700)
    assert c.ledger.get_note(note).status == NoteStatus.SETTLED
    assert c.token.balance_of(holder.address) == 700


def test_confirm_payment_refuses_an_unknown_note(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NoteNotFound) as exc:
        c.ledger.confirm_payment(c.suppliers[0], UNKNOWN_NOTE, 1, b"wire-7")
    assert exc.value.arguments == {"noteId": UNKNOWN_NOTE}


def test_confirm_payment_refuses_a_caller_who_is_not_the_holder(consortium: Consortium) -> None:
    c = consortium
    note = matured_note(c)
    c.ledger.claim_payment(c.core, note, AMOUNT, b"wire-7")
    with pytest.raises(errors.NotHolder) as exc:
        c.ledger.confirm_payment(c.core, note, AMOUNT, b"wire-7")
    assert exc.value.arguments == {"noteId": note, "caller": c.core.address}


def test_confirm_payment_refuses_when_nothing_was_claimed(consortium: Consortium) -> None:
    c = consortium
    note = matured_note(c)
    with pytest.raises(errors.PaymentClaimMismatch) as exc:
        c.ledger.confirm_payment(c.suppliers[0], note, AMOUNT, b"wire-7")
    assert exc.value.arguments == {"noteId": note}


@pytest.mark.parametrize(("amount", "reference"), [(AMOUNT - 1, b"wire-7"), (AMOUNT, b"wire-8")])
def test_confirm_payment_refuses_another_amount_or_reference_than_claimed(
    consortium: Consortium, amount: int, reference: bytes
) -> None:
    c = consortium
    note = matured_note(c)
    c.ledger.claim_payment(c.core, note, AMOUNT, b"wire-7")
    with pytest.raises(errors.PaymentClaimMismatch) as exc:
        c.ledger.confirm_payment(c.suppliers[0], note, amount, reference)
    assert exc.value.arguments == {"noteId": note}


def test_confirm_payment_refuses_a_note_settled_in_tokens_since_the_claim(consortium: Consortium) -> None:
    """The payment ended the claim (see test_payment_claims.py): nothing is left to confirm."""
    c = consortium
    note = matured_note(c)
    c.ledger.claim_payment(c.core, note, AMOUNT, b"wire-7")
    c.ledger.pay(c.core, note, AMOUNT)
    with pytest.raises(errors.PaymentClaimMismatch) as exc:
        c.ledger.confirm_payment(c.suppliers[0], note, AMOUNT, b"wire-7")
    assert exc.value.arguments == {"noteId": note}
    assert c.ledger.get_note(note).status == NoteStatus.SETTLED


def test_confirm_payment_refuses_a_note_frozen_since_the_claim(consortium: Consortium) -> None:
    c = consortium
    note = matured_note(c)
    c.ledger.claim_payment(c.core, note, AMOUNT, b"wire-7")
    c.ledger.freeze(c.operator, note, b"dispute")
    with pytest.raises(errors.NoteIsFrozen) as exc:
        c.ledger.confirm_payment(c.suppliers[0], note, AMOUNT, b"wire-7")
    assert exc.value.arguments == {"noteId": note}


def test_confirm_payment_refuses_a_claim_a_later_token_payment_ended(consortium: Consortium) -> None:
    """A claim larger than what a token payment left can no longer be confirmed: the payment ended
    it (before, PaymentTooLarge guarded only this case, and a smaller claim went through twice)."""
    c = consortium
    note = matured_note(c)
    c.ledger.claim_payment(c.core, note, 600, b"wire-7")
    c.ledger.pay(c.core, note, 500)
    with pytest.raises(errors.PaymentClaimMismatch) as exc:
        c.ledger.confirm_payment(c.suppliers[0], note, 600, b"wire-7")
    assert exc.value.arguments == {"noteId": note}
    assert c.ledger.paid_amount(note) == 500
