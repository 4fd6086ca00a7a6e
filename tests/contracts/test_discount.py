"""Discount: a financier offers to buy an active note from its holder at a price until a deadline; the
holder's acceptance delivers the note against the price in settlement tokens in one transaction
(delivery versus payment), or against a payment recorded off the ledger with a reference."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from service.domain import NoteStatus, Role
from service.ledger import errors
from service.ledger.types import OfferState, reference_bytes
from tests.consortium import DAY, Consortium
from tests.contracts.helpers import (
    ROLE_FINANCIER,
    ROLE_HOLDER,
    ZERO_ADDRESS,
    ZERO_HASH,
    at_maturity,
    mine_reverting,
    new_member,
    only_event,
    part,
    set_next_block_time,
    token_events,
)

AMOUNT = 1_000_000
PRICE = 980_000
UNKNOWN_NOTE = 99 << 32
UNKNOWN_OFFER = 99


def closed(offer_id: int) -> OfferState:
    """What getOffer answers for an accepted or cancelled offer: all zeros."""
    return OfferState(offer_id, 0, ZERO_ADDRESS, ZERO_ADDRESS, 0, 0, False, ZERO_HASH)


@dataclass(frozen=True)
class Deal:
    """An open offer by the bank for the whole note of `holder`."""

    note: int
    offer: int
    holder: LocalAccount
    financier: LocalAccount
    price: int
    deadline: int


def make_offer(
    c: Consortium,
    *,
    price: int = PRICE,
    off_chain: bool = False,
    funded: int = 0,
    approved: int | None = None,
) -> Deal:
    """The bank offers `price` for an active 90-day note of supplier 0, valid 30 days. If `funded`,
    the bank is first minted that many tokens and approves the ledger for `approved` (default: what
    it was minted); refusals checked before the token transfer need no tokens."""
    holder = c.suppliers[0]
    note = c.active_note(AMOUNT, holder)
    if funded:
        c.fund_tokens(c.bank, funded, approved)
    deadline = c.chain.now() + 30 * DAY
    offer = c.ledger.offer_discount(c.bank, note, price, deadline, off_chain=off_chain).offer_id()
    return Deal(note, offer, holder, c.bank, price, deadline)


def euro_note(c: Consortium) -> int:
    """An active note in EUR, a currency without a settlement token."""
    holder = c.suppliers[0]
    note = c.ledger.issue(c.core, holder.address, AMOUNT, "EUR", c.maturity(), c.next_document())
    note_id = note.created_note_ids()[0]
    c.ledger.accept(holder, note_id)
    return note_id


# ---------------------------------------------------------------- offerDiscount


def test_offer_discount_stores_the_offer_under_the_first_offer_id(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c)
    assert deal.offer == 1
    assert c.ledger.offer_count() == 1
    assert c.ledger.get_offer(deal.offer) == OfferState(
        offer_id=1,
        note_id=deal.note,
        financier=c.bank.address,
        holder=deal.holder.address,
        price=PRICE,
        deadline=deal.deadline,
        off_chain=False,
        payment_reference=ZERO_HASH,
    )


def test_offer_discount_emits_discount_offered_with_holder_price_and_deadline(consortium: Consortium) -> None:
    c = consortium
    holder = c.suppliers[0]
    note = c.active_note(AMOUNT, holder)
    deadline = c.chain.now() + 30 * DAY
    result = c.ledger.offer_discount(c.bank, note, PRICE, deadline)
    assert only_event(result, "DiscountOffered") == {
        "offerId": 1,
        "noteId": note,
        "financier": c.bank.address,
        "holder": holder.address,
        "price": PRICE,
        "deadline": deadline,
        "offChain": False,
    }


def test_offer_discount_moves_neither_the_note_nor_tokens(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c, funded=PRICE)
    note = c.ledger.get_note(deal.note)
    assert (note.holder, note.status) == (deal.holder.address, NoteStatus.ACTIVE)
    assert c.token.balance_of(c.bank.address) == PRICE
    assert c.token.balance_of(deal.holder.address) == 0


def test_offer_ids_increase_and_a_note_may_have_several_offers(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c)
    second = c.ledger.offer_discount(c.bank, deal.note, PRICE + 1, deal.deadline).offer_id()
    assert second == 2
    assert c.ledger.offer_count() == 2
    assert c.ledger.get_offer(deal.offer).price == PRICE
    assert c.ledger.get_offer(second).price == PRICE + 1


def test_offer_discount_may_be_off_chain_in_a_currency_without_a_token(consortium: Consortium) -> None:
    c = consortium
    note = euro_note(c)
    result = c.ledger.offer_discount(c.bank, note, PRICE, c.chain.now() + DAY, off_chain=True)
    assert only_event(result, "DiscountOffered")["offChain"] is True
    assert c.ledger.get_offer(result.offer_id()).off_chain is True


def test_offer_discount_accepts_the_face_amount_as_price_and_a_deadline_just_before_maturity(
    consortium: Consortium,
) -> None:
    c = consortium
    note = c.active_note(AMOUNT)
    maturity = c.ledger.get_note(note).maturity
    offer = c.ledger.offer_discount(c.bank, note, AMOUNT, maturity - 1).offer_id()
    assert (c.ledger.get_offer(offer).price, c.ledger.get_offer(offer).deadline) == (AMOUNT, maturity - 1)


def test_offer_discount_refuses_a_caller_without_the_financier_role(consortium: Consortium) -> None:
    c = consortium
    note = c.active_note(AMOUNT)
    supplier = c.suppliers[1]
    with pytest.raises(errors.MissingRole) as exc:
        c.ledger.offer_discount(supplier, note, PRICE, c.chain.now() + DAY)
    assert exc.value.arguments == {"account": supplier.address, "role": ROLE_FINANCIER}


def test_offer_discount_refuses_a_non_member(consortium: Consortium) -> None:
    c = consortium
    note = c.active_note(AMOUNT)
    with pytest.raises(errors.NotAMember) as exc:
        c.ledger.offer_discount(c.outsider, note, PRICE, c.chain.now() + DAY)
    assert exc.value.arguments == {"account": c.outsider.address}


def test_offer_discount_refuses_a_suspended_financier(consortium: Consortium) -> None:
    c = consortium
    note = c.active_note(AMOUNT)
    c.ledger.suspend_member(c.operator, c.bank.address)
    with pytest.raises(errors.MemberNotActive) as exc:
        c.ledger.offer_discount(c.bank, note, PRICE, c.chain.now() + DAY)
    assert exc.value.arguments == {"account": c.bank.address}


def test_offer_discount_refuses_an_unknown_note(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NoteNotFound) as exc:
        c.ledger.offer_discount(c.bank, UNKNOWN_NOTE, PRICE, c.chain.now() + DAY)
    assert exc.value.arguments == {"noteId": UNKNOWN_NOTE}


def test_offer_discount_refuses_a_pending_note(consortium: Consortium) -> None:
    c = consortium
    note = c.issue(AMOUNT)
    with pytest.raises(errors.NoteNotActive) as exc:
        c.ledger.offer_discount(c.bank, note, PRICE, c.chain.now() + DAY)
    assert exc.value.arguments == {"noteId": note, "status": NoteStatus.PENDING}


def test_offer_discount_refuses_a_split_note(consortium: Consortium) -> None:
    c = consortium
    holder, other, _ = c.suppliers
    note = c.active_note(AMOUNT, holder)
    c.ledger.split(holder, note, [part(holder, AMOUNT - 1), part(other, 1)])
    with pytest.raises(errors.NoteNotActive) as exc:
        c.ledger.offer_discount(c.bank, note, PRICE, c.chain.now() + DAY)
    assert exc.value.arguments == {"noteId": note, "status": NoteStatus.SPLIT}


def test_offer_discount_refuses_a_frozen_note(consortium: Consortium) -> None:
    c = consortium
    note = c.active_note(AMOUNT)
    c.ledger.freeze(c.operator, note, b"dispute")
    with pytest.raises(errors.NoteIsFrozen) as exc:
        c.ledger.offer_discount(c.bank, note, PRICE, c.chain.now() + DAY)
    assert exc.value.arguments == {"noteId": note}


def test_offer_discount_refuses_a_note_the_financier_holds(consortium: Consortium) -> None:
    c = consortium
    holder = c.suppliers[0]
    note = c.active_note(AMOUNT, holder)
    _, piece = c.ledger.split(holder, note, [part(holder, AMOUNT - 10), part(c.bank, 10)]).created_note_ids()
    with pytest.raises(errors.SelfDealing) as exc:
        c.ledger.offer_discount(c.bank, piece, 9, c.chain.now() + DAY)
    assert exc.value.arguments == {"account": c.bank.address}


def test_offer_discount_refuses_a_note_at_its_maturity(consortium: Consortium) -> None:
    c = consortium
    note = c.active_note(AMOUNT, days=1)
    maturity = at_maturity(c, note)
    with pytest.raises(errors.NoteMatured) as exc:
        c.ledger.offer_discount(c.bank, note, PRICE, maturity + DAY)
    assert exc.value.arguments == {"noteId": note, "maturity": maturity}


def test_offer_discount_refuses_a_zero_price(consortium: Consortium) -> None:
    c = consortium
    note = c.active_note(AMOUNT)
    with pytest.raises(errors.InvalidPrice) as exc:
        c.ledger.offer_discount(c.bank, note, 0, c.chain.now() + DAY)
    assert exc.value.arguments == {"price": 0, "maxPrice": AMOUNT}


def test_offer_discount_refuses_a_price_above_the_face_amount(consortium: Consortium) -> None:
    c = consortium
    note = c.active_note(AMOUNT)
    with pytest.raises(errors.InvalidPrice) as exc:
        c.ledger.offer_discount(c.bank, note, AMOUNT + 1, c.chain.now() + DAY)
    assert exc.value.arguments == {"price": AMOUNT + 1, "maxPrice": AMOUNT}


def test_offer_discount_refuses_a_deadline_that_is_not_in_the_future(consortium: Consortium) -> None:
    c = consortium
    note = c.active_note(AMOUNT)
    maturity = c.ledger.get_note(note).maturity
    now = c.chain.now() + 10
    set_next_block_time(c, now)
    with pytest.raises(errors.InvalidDeadline) as exc:
        c.ledger.offer_discount(c.bank, note, PRICE, now)
    assert exc.value.arguments == {"deadline": now, "earliest": now + 1, "latest": maturity - 1}


def test_offer_discount_refuses_a_deadline_at_maturity(consortium: Consortium) -> None:
    c = consortium
    note = c.active_note(AMOUNT)
    maturity = c.ledger.get_note(note).maturity
    now = c.chain.now() + 10
    set_next_block_time(c, now)
    with pytest.raises(errors.InvalidDeadline) as exc:
        c.ledger.offer_discount(c.bank, note, PRICE, maturity)
    assert exc.value.arguments == {"deadline": maturity, "earliest": now + 1, "latest": maturity - 1}


def test_offer_discount_in_tokens_refuses_a_currency_without_a_settlement_token(
    consortium: Consortium,
) -> None:
    c = consortium
    note = euro_note(c)
    with pytest.raises(errors.SettlementTokenNotSet) as exc:
        c.ledger.offer_discount(c.bank, note, PRICE, c.chain.now() + DAY)
    assert exc.value.arguments == {"currency": b"EUR"}


# ---------------------------------------------------------------- cancelDiscountOffer


def test_cancel_discount_offer_closes_it_and_emits_discount_offer_cancelled(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c)
    result = c.ledger.cancel_discount_offer(c.bank, deal.offer)
    assert only_event(result, "DiscountOfferCancelled") == {
        "offerId": deal.offer,
        "noteId": deal.note,
        "financier": c.bank.address,
    }
    assert c.ledger.get_offer(deal.offer) == closed(deal.offer)


def test_a_cancelled_offer_cannot_be_accepted(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c)
    c.ledger.cancel_discount_offer(c.bank, deal.offer)
    with pytest.raises(errors.OfferNotOpen) as exc:
        c.ledger.accept_discount_offer(deal.holder, deal.offer)
    assert exc.value.arguments == {"offerId": deal.offer}


def test_cancel_discount_offer_clears_a_recorded_payment_reference(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c, off_chain=True)
    c.ledger.record_discount_payment(c.bank, deal.offer, b"wire-1")
    c.ledger.cancel_discount_offer(c.bank, deal.offer)
    assert c.ledger.get_offer(deal.offer).payment_reference == ZERO_HASH


def test_cancel_discount_offer_refuses_an_unknown_offer(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.OfferNotOpen) as exc:
        c.ledger.cancel_discount_offer(c.bank, UNKNOWN_OFFER)
    assert exc.value.arguments == {"offerId": UNKNOWN_OFFER}


def test_cancel_discount_offer_refuses_an_offer_already_cancelled(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c)
    c.ledger.cancel_discount_offer(c.bank, deal.offer)
    with pytest.raises(errors.OfferNotOpen) as exc:
        c.ledger.cancel_discount_offer(c.bank, deal.offer)
    assert exc.value.arguments == {"offerId": deal.offer}


def test_cancel_discount_offer_refuses_an_accepted_offer(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c, funded=PRICE)
    c.ledger.accept_discount_offer(deal.holder, deal.offer)
    with pytest.raises(errors.OfferNotOpen) as exc:
        c.ledger.cancel_discount_offer(c.bank, deal.offer)
    assert exc.value.arguments == {"offerId": deal.offer}


def test_cancel_discount_offer_refuses_anyone_but_the_offering_financier(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c)
    other_bank = new_member(c, Role.FINANCIER)
    for caller in (other_bank, deal.holder):
        with pytest.raises(errors.NotOfferer) as exc:
            c.ledger.cancel_discount_offer(caller, deal.offer)
        assert exc.value.arguments == {"offerId": deal.offer, "caller": caller.address}


# ---------------------------------------------------------------- recordDiscountPayment


def test_record_discount_payment_stores_the_reference_and_emits_discount_payment_recorded(
    consortium: Consortium,
) -> None:
    c = consortium
    deal = make_offer(c, off_chain=True)
    result = c.ledger.record_discount_payment(c.bank, deal.offer, b"wire-1")
    assert only_event(result, "DiscountPaymentRecorded") == {
        "offerId": deal.offer,
        "noteId": deal.note,
        "paymentReference": reference_bytes(b"wire-1"),
    }
    assert c.ledger.get_offer(deal.offer).payment_reference == reference_bytes(b"wire-1")
    assert c.ledger.get_note(deal.note).holder == deal.holder.address


def test_record_discount_payment_again_replaces_the_reference(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c, off_chain=True)
    c.ledger.record_discount_payment(c.bank, deal.offer, b"wire-1")
    c.ledger.record_discount_payment(c.bank, deal.offer, b"wire-2")
    assert c.ledger.get_offer(deal.offer).payment_reference == reference_bytes(b"wire-2")


def test_record_discount_payment_is_allowed_at_the_deadline(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c, off_chain=True)
    set_next_block_time(c, deal.deadline)
    c.ledger.record_discount_payment(c.bank, deal.offer, b"wire-1")
    assert c.ledger.get_offer(deal.offer).payment_reference == reference_bytes(b"wire-1")


def test_record_discount_payment_refuses_an_unknown_offer(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.OfferNotOpen) as exc:
        c.ledger.record_discount_payment(c.bank, UNKNOWN_OFFER, b"wire-1")
    assert exc.value.arguments == {"offerId": UNKNOWN_OFFER}


def test_record_discount_payment_refuses_anyone_but_the_offering_financier(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c, off_chain=True)
    with pytest.raises(errors.NotOfferer) as exc:
        c.ledger.record_discount_payment(deal.holder, deal.offer, b"wire-1")
    assert exc.value.arguments == {"offerId": deal.offer, "caller": deal.holder.address}


def test_record_discount_payment_refuses_an_offer_paid_in_tokens(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c)
    with pytest.raises(errors.NotAnOffChainOffer) as exc:
        c.ledger.record_discount_payment(c.bank, deal.offer, b"wire-1")
    assert exc.value.arguments == {"offerId": deal.offer}


def test_record_discount_payment_refuses_a_zero_reference(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c, off_chain=True)
    with pytest.raises(errors.ZeroReference) as exc:
        c.ledger.record_discount_payment(c.bank, deal.offer, ZERO_HASH)
    assert exc.value.arguments == {}


def test_record_discount_payment_refuses_an_expired_offer(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c, off_chain=True)
    set_next_block_time(c, deal.deadline + 1)
    with pytest.raises(errors.OfferExpired) as exc:
        c.ledger.record_discount_payment(c.bank, deal.offer, b"wire-1")
    assert exc.value.arguments == {"offerId": deal.offer, "deadline": deal.deadline}


# ------------------------------------------------------------ acceptDiscountOffer: delivery versus payment


def test_accept_delivers_the_note_to_the_financier_against_the_price(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c, funded=PRICE + 500, approved=PRICE + 100)
    c.ledger.accept_discount_offer(deal.holder, deal.offer)
    note = c.ledger.get_note(deal.note)
    assert (note.holder, note.status, note.amount) == (c.bank.address, NoteStatus.ACTIVE, AMOUNT)
    assert c.token.balance_of(deal.holder.address) == PRICE
    assert c.token.balance_of(c.bank.address) == 500
    assert c.token.allowance(c.bank.address, c.ledger.address) == 100
    assert c.ledger.get_offer(deal.offer) == closed(deal.offer)


def test_accept_emits_note_discounted_and_the_token_transfer_in_one_transaction(
    consortium: Consortium,
) -> None:
    c = consortium
    deal = make_offer(c, funded=PRICE)
    result = c.ledger.accept_discount_offer(deal.holder, deal.offer)
    assert only_event(result, "NoteDiscounted") == {
        "noteId": deal.note,
        "from": deal.holder.address,
        "to": c.bank.address,
        "offerId": deal.offer,
        "price": PRICE,
        "paymentReference": ZERO_HASH,
    }
    assert token_events(c, result) == [
        ("Transfer", {"from": c.bank.address, "to": deal.holder.address, "value": PRICE})
    ]


def test_accept_leaves_the_obligors_outstanding_unchanged(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c, funded=PRICE)
    before = c.ledger.credit_of(c.core.address)
    c.ledger.accept_discount_offer(deal.holder, deal.offer)
    assert c.ledger.credit_of(c.core.address) == before


def test_accept_is_allowed_at_the_deadline(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c, funded=PRICE)
    set_next_block_time(c, deal.deadline)
    c.ledger.accept_discount_offer(deal.holder, deal.offer)
    assert c.ledger.get_note(deal.note).holder == c.bank.address


def test_a_discounted_note_can_be_moved_on_by_the_financier(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c, funded=PRICE)
    c.ledger.accept_discount_offer(deal.holder, deal.offer)
    other_bank = new_member(c, Role.FINANCIER)
    c.ledger.transfer(c.bank, deal.note, other_bank.address)
    assert c.ledger.get_note(deal.note).holder == other_bank.address


def test_accepting_one_offer_leaves_the_other_offers_on_the_note_unacceptable(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c)
    rival = new_member(c, Role.FINANCIER)
    c.fund_tokens(rival, PRICE)
    rival_offer = c.ledger.offer_discount(rival, deal.note, PRICE, deal.deadline).offer_id()
    c.ledger.accept_discount_offer(deal.holder, rival_offer)
    with pytest.raises(errors.NotHolder) as exc:
        c.ledger.accept_discount_offer(deal.holder, deal.offer)
    assert exc.value.arguments == {"noteId": deal.note, "caller": deal.holder.address}
    assert c.ledger.get_note(deal.note).holder == rival.address


# ---------------------------------------------------------------- acceptDiscountOffer: refusals


def test_accept_refuses_an_unknown_offer(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.OfferNotOpen) as exc:
        c.ledger.accept_discount_offer(c.suppliers[0], UNKNOWN_OFFER)
    assert exc.value.arguments == {"offerId": UNKNOWN_OFFER}


def test_accept_refuses_an_offer_already_accepted(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c, funded=PRICE)
    c.ledger.accept_discount_offer(deal.holder, deal.offer)
    with pytest.raises(errors.OfferNotOpen) as exc:
        c.ledger.accept_discount_offer(deal.holder, deal.offer)
    assert exc.value.arguments == {"offerId": deal.offer}


def test_accept_refuses_an_expired_offer(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c)
    set_next_block_time(c, deal.deadline + 1)
    with pytest.raises(errors.OfferExpired) as exc:
        c.ledger.accept_discount_offer(deal.holder, deal.offer)
    assert exc.value.arguments == {"offerId": deal.offer, "deadline": deal.deadline}


def test_accept_refuses_a_caller_who_does_not_hold_the_note(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c)
    stranger = c.suppliers[1]
    with pytest.raises(errors.NotHolder) as exc:
        c.ledger.accept_discount_offer(stranger, deal.offer)
    assert exc.value.arguments == {"noteId": deal.note, "caller": stranger.address}


def test_accept_by_the_new_holder_of_a_note_that_moved_is_void(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c)
    new_holder = c.suppliers[1]
    c.ledger.transfer(deal.holder, deal.note, new_holder.address)
    with pytest.raises(errors.OfferVoid) as exc:
        c.ledger.accept_discount_offer(new_holder, deal.offer)
    assert exc.value.arguments == {"offerId": deal.offer}


def test_accept_by_the_former_holder_of_a_note_that_moved_is_refused(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c)
    c.ledger.transfer(deal.holder, deal.note, c.suppliers[1].address)
    with pytest.raises(errors.NotHolder) as exc:
        c.ledger.accept_discount_offer(deal.holder, deal.offer)
    assert exc.value.arguments == {"noteId": deal.note, "caller": deal.holder.address}


def test_accept_of_an_offer_on_a_note_that_moved_away_and_back_is_void(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c, funded=PRICE)
    c.ledger.transfer(deal.holder, deal.note, c.suppliers[1].address)
    c.ledger.transfer(c.suppliers[1], deal.note, deal.holder.address)
    with pytest.raises(errors.OfferVoid) as exc:
        c.ledger.accept_discount_offer(deal.holder, deal.offer)
    assert exc.value.arguments == {"offerId": deal.offer}


def test_an_offer_made_after_the_note_came_back_can_be_accepted(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c, funded=2 * PRICE)
    c.ledger.transfer(deal.holder, deal.note, c.suppliers[1].address)
    c.ledger.transfer(c.suppliers[1], deal.note, deal.holder.address)
    fresh = c.ledger.offer_discount(c.bank, deal.note, PRICE, deal.deadline).offer_id()
    c.ledger.accept_discount_offer(deal.holder, fresh)
    assert c.ledger.get_note(deal.note).holder == c.bank.address


def test_accept_of_an_offer_on_a_note_frozen_and_unfrozen_since_is_void(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c, funded=PRICE)
    c.ledger.freeze(c.operator, deal.note, b"dispute")
    c.ledger.unfreeze(c.operator, deal.note)
    with pytest.raises(errors.OfferVoid) as exc:
        c.ledger.accept_discount_offer(deal.holder, deal.offer)
    assert exc.value.arguments == {"offerId": deal.offer}


def test_accept_refuses_a_note_split_since_the_offer(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c)
    c.ledger.split(deal.holder, deal.note, [part(deal.holder, AMOUNT - 1), part(c.suppliers[1], 1)])
    with pytest.raises(errors.NoteNotActive) as exc:
        c.ledger.accept_discount_offer(deal.holder, deal.offer)
    assert exc.value.arguments == {"noteId": deal.note, "status": NoteStatus.SPLIT}


def test_accept_refuses_a_note_frozen_since_the_offer(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c)
    c.ledger.freeze(c.operator, deal.note, b"dispute")
    with pytest.raises(errors.NoteIsFrozen) as exc:
        c.ledger.accept_discount_offer(deal.holder, deal.offer)
    assert exc.value.arguments == {"noteId": deal.note}


def test_accept_refuses_a_suspended_holder(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c)
    c.ledger.suspend_member(c.operator, deal.holder.address)
    with pytest.raises(errors.MemberNotActive) as exc:
        c.ledger.accept_discount_offer(deal.holder, deal.offer)
    assert exc.value.arguments == {"account": deal.holder.address}


def test_accept_refuses_a_holder_who_lost_its_holder_roles(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c)
    c.ledger.set_member_roles(c.operator, deal.holder.address, Role.AUDITOR)
    with pytest.raises(errors.MissingRole) as exc:
        c.ledger.accept_discount_offer(deal.holder, deal.offer)
    assert exc.value.arguments == {"account": deal.holder.address, "role": ROLE_HOLDER}


def test_accept_refuses_an_offer_of_a_financier_suspended_since(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c)
    c.ledger.suspend_member(c.operator, c.bank.address)
    with pytest.raises(errors.MemberNotActive) as exc:
        c.ledger.accept_discount_offer(deal.holder, deal.offer)
    assert exc.value.arguments == {"account": c.bank.address}


def test_accept_refuses_an_offer_of_a_member_no_longer_a_financier(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c)
    c.ledger.set_member_roles(c.operator, c.bank.address, Role.SUPPLIER)
    with pytest.raises(errors.MissingRole) as exc:
        c.ledger.accept_discount_offer(deal.holder, deal.offer)
    assert exc.value.arguments == {"account": c.bank.address, "role": ROLE_FINANCIER}


def test_accept_refuses_when_the_financier_has_too_few_tokens(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c, funded=PRICE - 1, approved=PRICE)
    with pytest.raises(errors.ERC20InsufficientBalance) as exc:
        c.ledger.accept_discount_offer(deal.holder, deal.offer)
    assert exc.value.arguments == {"sender": c.bank.address, "balance": PRICE - 1, "needed": PRICE}


def test_accept_refuses_when_the_financiers_allowance_is_too_low(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c, funded=PRICE, approved=PRICE - 1)
    with pytest.raises(errors.ERC20InsufficientAllowance) as exc:
        c.ledger.accept_discount_offer(deal.holder, deal.offer)
    assert exc.value.arguments == {"spender": c.ledger.address, "allowance": PRICE - 1, "needed": PRICE}


# ---------------------------------------------------------------- a failed DvP changes nothing


def _too_few_tokens(c: Consortium) -> tuple[Deal, LocalAccount]:
    deal = make_offer(c, funded=PRICE - 1, approved=PRICE)
    return deal, deal.holder


def _allowance_too_low(c: Consortium) -> tuple[Deal, LocalAccount]:
    deal = make_offer(c, funded=PRICE, approved=PRICE - 1)
    return deal, deal.holder


def _expired(c: Consortium) -> tuple[Deal, LocalAccount]:
    deal = make_offer(c, funded=PRICE)
    set_next_block_time(c, deal.deadline + 1)
    return deal, deal.holder


def _moved(c: Consortium) -> tuple[Deal, LocalAccount]:
    deal = make_offer(c, funded=PRICE)
    c.ledger.transfer(deal.holder, deal.note, c.suppliers[1].address)
    return deal, c.suppliers[1]


def _split(c: Consortium) -> tuple[Deal, LocalAccount]:
    deal = make_offer(c, funded=PRICE)
    c.ledger.split(deal.holder, deal.note, [part(deal.holder, AMOUNT - 1), part(c.suppliers[1], 1)])
    return deal, deal.holder


def _frozen(c: Consortium) -> tuple[Deal, LocalAccount]:
    deal = make_offer(c, funded=PRICE)
    c.ledger.freeze(c.operator, deal.note, b"dispute")
    return deal, deal.holder


FAILED_DVP: dict[str, tuple[Callable[[Consortium], tuple[Deal, LocalAccount]], type[errors.LedgerRevert]]] = {
    "insufficient token balance": (_too_few_tokens, errors.ERC20InsufficientBalance),
    "insufficient allowance": (_allowance_too_low, errors.ERC20InsufficientAllowance),
    "expired offer": (_expired, errors.OfferExpired),
    "note moved": (_moved, errors.OfferVoid),
    "note split": (_split, errors.NoteNotActive),
    "note frozen": (_frozen, errors.NoteIsFrozen),
}


def _dvp_state(c: Consortium, deal: Deal, caller: LocalAccount) -> dict[str, Any]:
    note = c.ledger.get_note(deal.note)
    return {
        "note": (note.holder, note.status, note.frozen, note.amount),
        "tree_size": c.ledger.tree_size(deal.note),
        "balances": [c.token.balance_of(a.address) for a in (c.bank, deal.holder, caller)],
        "allowance": c.token.allowance(c.bank.address, c.ledger.address),
        "supply": c.token.total_supply(),
        "offer": c.ledger.get_offer(deal.offer),
        "credit": c.ledger.credit_of(c.core.address),
    }


@pytest.mark.parametrize("case", list(FAILED_DVP))
def test_a_failed_dvp_changes_nothing(consortium: Consortium, case: str) -> None:
    """Refused on estimation with the typed error, and when mined anyway the transaction reverts
    whole: the note's holder, both token balances, the allowance and the offer are unchanged."""
    c = consortium
    setup, error = FAILED_DVP[case]
    deal, caller = setup(c)
    before = _dvp_state(c, deal, caller)
    assert before["offer"].note_id == deal.note
    with pytest.raises(error):
        c.ledger.accept_discount_offer(caller, deal.offer)
    mine_reverting(c, c.ledger, caller, "acceptDiscountOffer", deal.offer)
    assert _dvp_state(c, deal, caller) == before


# ---------------------------------------------------------------- acceptDiscountOffer: off-chain payment


def test_accept_an_off_chain_offer_delivers_the_note_against_the_recorded_payment(
    consortium: Consortium,
) -> None:
    c = consortium
    deal = make_offer(c, off_chain=True)
    c.ledger.record_discount_payment(c.bank, deal.offer, b"wire-1")
    result = c.ledger.accept_discount_offer(deal.holder, deal.offer)
    assert only_event(result, "NoteDiscounted") == {
        "noteId": deal.note,
        "from": deal.holder.address,
        "to": c.bank.address,
        "offerId": deal.offer,
        "price": PRICE,
        "paymentReference": reference_bytes(b"wire-1"),
    }
    assert token_events(c, result) == []
    assert c.ledger.get_note(deal.note).holder == c.bank.address
    assert c.ledger.get_offer(deal.offer) == closed(deal.offer)


def test_an_off_chain_discount_needs_no_settlement_token(consortium: Consortium) -> None:
    c = consortium
    note = euro_note(c)
    offer = c.ledger.offer_discount(c.bank, note, PRICE, c.chain.now() + DAY, off_chain=True).offer_id()
    c.ledger.record_discount_payment(c.bank, offer, b"wire-eur")
    c.ledger.accept_discount_offer(c.suppliers[0], offer)
    assert c.ledger.get_note(note).holder == c.bank.address


def test_accept_an_off_chain_offer_refuses_before_the_payment_is_recorded(consortium: Consortium) -> None:
    c = consortium
    deal = make_offer(c, off_chain=True)
    with pytest.raises(errors.DiscountPaymentNotRecorded) as exc:
        c.ledger.accept_discount_offer(deal.holder, deal.offer)
    assert exc.value.arguments == {"offerId": deal.offer}
