"""setMaxTenor: the operator bounds how far in the future a new note may mature."""

from __future__ import annotations

import pytest

from service.ledger import errors
from tests.consortium import DAY, Consortium
from tests.contracts.helpers import next_block_time, only_event

MIN_TENOR_BOUND = DAY
MAX_TENOR_BOUND = 3650 * DAY


def test_set_max_tenor_changes_the_tenor_and_emits_max_tenor_changed(consortium: Consortium) -> None:
    c = consortium
    result = c.ledger.set_max_tenor(c.operator, 180 * DAY)
    assert only_event(result, "MaxTenorChanged") == {"maxTenor": 180 * DAY}
    assert c.ledger.max_tenor() == 180 * DAY


def test_set_max_tenor_accepts_exactly_the_lower_bound(consortium: Consortium) -> None:
    c = consortium
    c.ledger.set_max_tenor(c.operator, MIN_TENOR_BOUND)
    assert c.ledger.max_tenor() == MIN_TENOR_BOUND


def test_set_max_tenor_accepts_exactly_the_upper_bound(consortium: Consortium) -> None:
    c = consortium
    c.ledger.set_max_tenor(c.operator, MAX_TENOR_BOUND)
    assert c.ledger.max_tenor() == MAX_TENOR_BOUND


def test_set_max_tenor_refuses_a_tenor_below_the_lower_bound(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.InvalidTenor) as exc:
        c.ledger.set_max_tenor(c.operator, MIN_TENOR_BOUND - 1)
    assert exc.value.arguments == {"tenor": MIN_TENOR_BOUND - 1}


def test_set_max_tenor_refuses_a_tenor_above_the_upper_bound(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.InvalidTenor) as exc:
        c.ledger.set_max_tenor(c.operator, MAX_TENOR_BOUND + 1)
    assert exc.value.arguments == {"tenor": MAX_TENOR_BOUND + 1}


def test_set_max_tenor_refuses_a_caller_who_is_not_the_operator(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NotOperator) as exc:
        c.ledger.set_max_tenor(c.core, 30 * DAY)
    assert exc.value.arguments == {"caller": c.core.address}


def test_issue_is_bounded_by_a_lowered_max_tenor(consortium: Consortium) -> None:
    c = consortium
    c.ledger.set_max_tenor(c.operator, 30 * DAY)
    now = next_block_time(c)
    with pytest.raises(errors.InvalidMaturity) as exc:
        c.ledger.issue(c.core, c.suppliers[0].address, 1, "USD", now + 30 * DAY + 1, c.next_document())
    assert exc.value.arguments == {
        "maturity": now + 30 * DAY + 1,
        "earliest": now + 1,
        "latest": now + 30 * DAY,
    }


def test_issue_accepts_a_maturity_exactly_at_a_raised_max_tenor(consortium: Consortium) -> None:
    c = consortium
    c.ledger.set_max_tenor(c.operator, 730 * DAY)
    now = next_block_time(c)
    result = c.ledger.issue(c.core, c.suppliers[0].address, 1, "USD", now + 730 * DAY, c.next_document())
    assert only_event(result, "NoteIssued")["maturity"] == now + 730 * DAY
