"""Suspension, function by function (issue 12, finding 8): a suspended member can do nothing but
discharge what it owes (as obligor: pay, claim an off-chain payment, settle a tree, approve the
ledger to take its tokens for that) and be paid what is due (payments reach it; as holder it
confirms an off-chain payment). Every other state-changing function refuses it with
MemberNotActive, checked by the one guard `_requireActive`."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from eth_account.signers.local import LocalAccount

from service.domain import NoteStatus
from service.ledger import errors
from service.ledger.types import SplitPart
from tests.consortium import Consortium
from tests.contracts.helpers import at_maturity

DAY = 86_400
AMOUNT = 1_000
PRICE = 900


def _suspend(c: Consortium, account: LocalAccount) -> None:
    c.ledger.suspend_member(c.operator, account.address)


def _refused(c: Consortium, account: LocalAccount, action: Callable[[], object]) -> None:
    _suspend(c, account)
    with pytest.raises(errors.MemberNotActive) as exc:
        action()
    assert exc.value.arguments == {"account": account.address}


# ---------------------------------------------------------------- refused


def test_suspended_financier_cannot_set_a_credit_limit(consortium: Consortium) -> None:
    c = consortium
    _refused(c, c.bank, lambda: c.ledger.set_credit_limit(c.bank, c.core.address, 1))


def test_suspended_obligor_cannot_issue(consortium: Consortium) -> None:
    c = consortium
    _refused(c, c.core, lambda: c.issue(AMOUNT))


def test_suspended_holder_cannot_accept(consortium: Consortium) -> None:
    c = consortium
    note = c.issue(AMOUNT)
    _refused(c, c.suppliers[0], lambda: c.ledger.accept(c.suppliers[0], note))


def test_suspended_holder_cannot_reject(consortium: Consortium) -> None:
    c = consortium
    note = c.issue(AMOUNT)
    _refused(c, c.suppliers[0], lambda: c.ledger.reject(c.suppliers[0], note))


def test_suspended_obligor_cannot_revoke(consortium: Consortium) -> None:
    c = consortium
    note = c.issue(AMOUNT)
    _refused(c, c.core, lambda: c.ledger.revoke(c.core, note))


def test_suspended_holder_cannot_split(consortium: Consortium) -> None:
    c = consortium
    holder, other = c.suppliers[0], c.suppliers[1]
    note = c.active_note(AMOUNT, holder)
    parts = [SplitPart(holder.address, 400), SplitPart(other.address, 600)]
    _refused(c, holder, lambda: c.ledger.split(holder, note, parts))


def test_suspended_holder_cannot_transfer(consortium: Consortium) -> None:
    c = consortium
    holder = c.suppliers[0]
    note = c.active_note(AMOUNT, holder)
    _refused(c, holder, lambda: c.ledger.transfer(holder, note, c.suppliers[1].address))


def test_suspended_financier_cannot_offer_a_discount(consortium: Consortium) -> None:
    c = consortium
    note = c.active_note(AMOUNT)
    _refused(c, c.bank, lambda: c.ledger.offer_discount(c.bank, note, PRICE, c.chain.now() + DAY))


def test_suspended_financier_cannot_cancel_its_offer(consortium: Consortium) -> None:
    c = consortium
    note = c.active_note(AMOUNT)
    offer = c.ledger.offer_discount(c.bank, note, PRICE, c.chain.now() + DAY).offer_id()
    _refused(c, c.bank, lambda: c.ledger.cancel_discount_offer(c.bank, offer))
    assert c.ledger.get_offer(offer).financier == c.bank.address  # still there for after reinstatement


def test_suspended_financier_cannot_record_an_off_chain_discount_payment(consortium: Consortium) -> None:
    c = consortium
    note = c.active_note(AMOUNT)
    offer = c.ledger.offer_discount(c.bank, note, PRICE, c.chain.now() + DAY, off_chain=True).offer_id()
    _refused(c, c.bank, lambda: c.ledger.record_discount_payment(c.bank, offer, b"wire-1"))


def test_suspended_holder_cannot_accept_a_discount_offer(consortium: Consortium) -> None:
    c = consortium
    holder = c.suppliers[0]
    note = c.active_note(AMOUNT, holder)
    c.fund_tokens(c.bank, PRICE)
    offer = c.ledger.offer_discount(c.bank, note, PRICE, c.chain.now() + DAY).offer_id()
    _refused(c, holder, lambda: c.ledger.accept_discount_offer(holder, offer))


def test_suspended_member_cannot_approve_anyone_but_the_ledger(consortium: Consortium) -> None:
    c = consortium
    member = c.suppliers[0]
    _suspend(c, member)
    with pytest.raises(errors.NotAnActiveMember) as exc:
        c.token.approve(member, c.suppliers[1].address, 1)
    assert exc.value.arguments == {"account": member.address}
    assert c.token.allowance(member.address, c.suppliers[1].address) == 0


def test_non_member_cannot_approve_anyone_but_the_ledger(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NotAnActiveMember):
        c.token.approve(c.outsider, c.suppliers[1].address, 1)


def test_active_member_may_approve_another_member(consortium: Consortium) -> None:
    c = consortium
    c.token.approve(c.suppliers[0], c.suppliers[1].address, 5)
    assert c.token.allowance(c.suppliers[0].address, c.suppliers[1].address) == 5


def test_reinstated_member_may_act_again(consortium: Consortium) -> None:
    c = consortium
    holder = c.suppliers[0]
    note = c.active_note(AMOUNT, holder)
    _suspend(c, holder)
    c.ledger.reinstate_member(c.operator, holder.address)
    c.ledger.transfer(holder, note, c.suppliers[1].address)
    assert c.ledger.get_note(note).holder == c.suppliers[1].address


# ---------------------------------------------------------------- allowed: discharging debts, being paid


def _matured(c: Consortium, holder: LocalAccount | None = None) -> int:
    note = c.active_note(AMOUNT, holder or c.suppliers[0], days=1)
    c.token.mint(c.operator, c.core.address, AMOUNT, b"deposit")
    at_maturity(c, note)
    return note


def test_suspended_obligor_may_still_approve_the_ledger_to_pay(consortium: Consortium) -> None:
    c = consortium
    _suspend(c, c.core)
    c.token.approve(c.core, c.ledger.address, AMOUNT)
    assert c.token.allowance(c.core.address, c.ledger.address) == AMOUNT


def test_suspended_obligor_may_still_pay_what_it_owes(consortium: Consortium) -> None:
    c = consortium
    note = _matured(c)
    c.token.approve(c.core, c.ledger.address, AMOUNT)
    _suspend(c, c.core)
    c.ledger.pay(c.core, note, AMOUNT)
    assert c.ledger.get_note(note).status == NoteStatus.SETTLED
    assert c.token.balance_of(c.suppliers[0].address) == AMOUNT


def test_suspended_obligor_may_still_settle_a_tree(consortium: Consortium) -> None:
    c = consortium
    note = _matured(c)
    c.token.approve(c.core, c.ledger.address, AMOUNT)
    _suspend(c, c.core)
    c.ledger.settle_root(c.core, note, 0, 1)
    assert c.ledger.get_note(note).status == NoteStatus.SETTLED


def test_suspended_holder_is_still_paid(consortium: Consortium) -> None:
    c = consortium
    note = _matured(c)
    c.token.approve(c.core, c.ledger.address, AMOUNT)
    _suspend(c, c.suppliers[0])
    c.ledger.pay(c.core, note, AMOUNT)
    assert c.token.balance_of(c.suppliers[0].address) == AMOUNT


def test_suspended_obligor_may_claim_and_suspended_holder_may_confirm_an_off_chain_payment(
    consortium: Consortium,
) -> None:
    c = consortium
    note = _matured(c)
    _suspend(c, c.core)
    c.ledger.claim_payment(c.core, note, AMOUNT, b"wire-7")
    _suspend(c, c.suppliers[0])
    c.ledger.confirm_payment(c.suppliers[0], note, AMOUNT, b"wire-7")
    assert c.ledger.get_note(note).status == NoteStatus.SETTLED


def test_suspended_obligor_may_withdraw_its_own_payment_claim(consortium: Consortium) -> None:
    c = consortium
    note = _matured(c)
    c.ledger.claim_payment(c.core, note, AMOUNT, b"wire-8")
    _suspend(c, c.core)
    result = c.ledger.withdraw_payment_claim(c.core, note)
    assert [e.name for e in result.events] == ["PaymentClaimWithdrawn"]
    assert c.ledger.payment_claim(note) == bytes(32)


def test_suspended_obligors_payment_still_needs_its_own_note(consortium: Consortium) -> None:
    """The exception is for the obligor's own debts: a suspended member paying another obligor's
    note is refused as before (NotObligor), never let through by the exception."""
    c = consortium
    note = _matured(c)
    _suspend(c, c.suppliers[1])
    with pytest.raises(errors.NotObligor):
        c.ledger.pay(c.suppliers[1], note, AMOUNT)
