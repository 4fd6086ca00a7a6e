"""Minimum part amount per currency (operator): no issued note and no split part may be smaller, so
that nobody can grind a tree into dust that makes settlement expensive for the obligor."""

from __future__ import annotations

import pytest

from service.domain import MAX_AMOUNT, NoteStatus
from service.ledger import errors
from tests.consortium import Consortium
from tests.contracts.helpers import only_event, part

MINIMUM = 100_00  # 100.00 in minor units


def test_min_part_amount_defaults_to_zero(consortium: Consortium) -> None:
    assert consortium.ledger.min_part_amount("USD") == 0


def test_set_min_part_amount_stores_it_and_emits_min_part_amount_set(consortium: Consortium) -> None:
    c = consortium
    result = c.ledger.set_min_part_amount(c.operator, "USD", MINIMUM)
    assert only_event(result, "MinPartAmountSet") == {"currency": b"USD", "amount": MINIMUM}
    assert c.ledger.min_part_amount("USD") == MINIMUM


def test_min_part_amount_is_per_currency(consortium: Consortium) -> None:
    c = consortium
    c.ledger.set_min_part_amount(c.operator, "EUR", MINIMUM)
    assert (c.ledger.min_part_amount("EUR"), c.ledger.min_part_amount("USD")) == (MINIMUM, 0)


def test_set_min_part_amount_back_to_zero_lifts_the_minimum(consortium: Consortium) -> None:
    c = consortium
    c.ledger.set_min_part_amount(c.operator, "USD", MINIMUM)
    c.ledger.set_min_part_amount(c.operator, "USD", 0)
    holder = c.suppliers[0]
    note = c.active_note(1_000, holder)
    c.ledger.split(holder, note, [part(holder, 999), part(c.suppliers[1], 1)])


def test_set_min_part_amount_refuses_a_caller_who_is_not_the_operator(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NotOperator) as exc:
        c.ledger.set_min_part_amount(c.core, "USD", MINIMUM)
    assert exc.value.arguments == {"caller": c.core.address}


def test_set_min_part_amount_refuses_an_invalid_currency(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.InvalidCurrency):
        c.ledger.set_min_part_amount(c.operator, "usd", MINIMUM)


def test_set_min_part_amount_refuses_more_than_the_largest_note(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.AmountTooLarge) as exc:
        c.ledger.set_min_part_amount(c.operator, "USD", MAX_AMOUNT + 1)
    assert exc.value.arguments == {"amount": MAX_AMOUNT + 1, "maxAmount": MAX_AMOUNT}


def test_issue_refuses_a_note_below_the_minimum(consortium: Consortium) -> None:
    c = consortium
    c.ledger.set_min_part_amount(c.operator, "USD", MINIMUM)
    with pytest.raises(errors.AmountBelowMinimum) as exc:
        c.issue(MINIMUM - 1)
    assert exc.value.arguments == {"partIndex": 0, "amount": MINIMUM - 1, "minimum": MINIMUM}


def test_issue_accepts_a_note_of_exactly_the_minimum(consortium: Consortium) -> None:
    c = consortium
    c.ledger.set_min_part_amount(c.operator, "USD", MINIMUM)
    note = c.issue(MINIMUM)
    assert c.ledger.get_note(note).amount == MINIMUM


def test_split_refuses_a_part_below_the_minimum_naming_its_index(consortium: Consortium) -> None:
    c = consortium
    holder = c.suppliers[0]
    note = c.active_note(10 * MINIMUM, holder)
    c.ledger.set_min_part_amount(c.operator, "USD", MINIMUM)
    parts = [part(holder, 4 * MINIMUM), part(c.suppliers[1], 6 * MINIMUM - 1), part(c.suppliers[2], 1)]
    with pytest.raises(errors.AmountBelowMinimum) as exc:
        c.ledger.split(holder, note, parts)
    assert exc.value.arguments == {"partIndex": 2, "amount": 1, "minimum": MINIMUM}
    assert c.ledger.get_note(note).status == NoteStatus.ACTIVE


def test_split_accepts_parts_of_exactly_the_minimum(consortium: Consortium) -> None:
    c = consortium
    holder = c.suppliers[0]
    note = c.active_note(2 * MINIMUM, holder)
    c.ledger.set_min_part_amount(c.operator, "USD", MINIMUM)
    result = c.ledger.split(holder, note, [part(holder, MINIMUM), part(c.suppliers[1], MINIMUM)])
    assert len(result.created_note_ids()) == 2


def test_split_still_names_a_zero_part_as_zero_amount(consortium: Consortium) -> None:
    c = consortium
    holder = c.suppliers[0]
    note = c.active_note(2 * MINIMUM, holder)
    c.ledger.set_min_part_amount(c.operator, "USD", MINIMUM)
    with pytest.raises(errors.ZeroAmount):
        c.ledger.split(holder, note, [part(holder, 2 * MINIMUM), part(c.suppliers[1], 0)])


def test_a_note_issued_below_a_later_minimum_can_still_move_whole(consortium: Consortium) -> None:
    c = consortium
    holder = c.suppliers[0]
    note = c.active_note(MINIMUM // 2, holder)
    c.ledger.set_min_part_amount(c.operator, "USD", MINIMUM)
    c.ledger.transfer(holder, note, c.suppliers[1].address)
    assert c.ledger.get_note(note).holder == c.suppliers[1].address
