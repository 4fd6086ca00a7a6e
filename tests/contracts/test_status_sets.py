"""The ledger's two sets of note statuses, live (pending, active, overdue) and payable (active,
overdue), tested over every status a note can reach: freeze takes exactly the live notes, write-off
and pay exactly the payable ones, and both sets are the gateway's `NoteStatus.is_live` and
`is_payable`. The contract tests membership with a bit set indexed by the enum's order, so these
tests pin that order too."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from service.domain import NoteStatus
from service.ledger import errors
from tests.consortium import Consortium
from tests.contracts.helpers import at_maturity, part

AMOUNT = 1_000
REASON = b"court order"


def _past_grace(c: Consortium, note: int) -> None:
    """Move the clock past the note's maturity plus the grace period (write-off may then apply)."""
    at_maturity(c, note, c.ledger.grace_period() + 1)


def _pending(c: Consortium) -> int:
    note = c.issue(AMOUNT, days=1)
    _past_grace(c, note)
    return note


def _active(c: Consortium) -> int:
    note = c.active_note(AMOUNT, days=1)
    _past_grace(c, note)
    return note


def _split(c: Consortium) -> int:
    holder, other, _ = c.suppliers
    note = c.active_note(AMOUNT, holder, days=1)
    c.ledger.split(holder, note, [part(holder, 600), part(other, 400)])
    _past_grace(c, note)
    return note


def _rejected(c: Consortium) -> int:
    note = c.issue(AMOUNT, days=1)
    c.ledger.reject(c.suppliers[0], note)
    _past_grace(c, note)
    return note


def _revoked(c: Consortium) -> int:
    note = c.issue(AMOUNT, days=1)
    c.ledger.revoke(c.core, note)
    _past_grace(c, note)
    return note


def _overdue(c: Consortium) -> int:
    note = _active(c)
    c.ledger.mark_overdue(c.outsider, note)
    return note


def _settled(c: Consortium) -> int:
    note = c.active_note(AMOUNT, days=1)
    c.fund_tokens(c.core, AMOUNT)
    at_maturity(c, note)
    c.ledger.pay(c.core, note, AMOUNT)
    _past_grace(c, note)
    return note


def _written_off(c: Consortium) -> int:
    note = _active(c)
    c.ledger.write_off(c.operator, note, b"default-1")
    return note


NOTE_IN: dict[NoteStatus, Callable[[Consortium], int]] = {
    NoteStatus.PENDING: _pending,
    NoteStatus.ACTIVE: _active,
    NoteStatus.SPLIT: _split,
    NoteStatus.REJECTED: _rejected,
    NoteStatus.REVOKED: _revoked,
    NoteStatus.OVERDUE: _overdue,
    NoteStatus.SETTLED: _settled,
    NoteStatus.WRITTEN_OFF: _written_off,
}
"""A note past maturity plus the grace period in each status a note can reach (all but NONE)."""

LIVE = [s for s in NOTE_IN if s.is_live]
NOT_LIVE = [s for s in NOTE_IN if not s.is_live]
PAYABLE = [s for s in NOTE_IN if s.is_payable]
NOT_PAYABLE = [s for s in NOTE_IN if not s.is_payable]


def test_every_status_but_none_is_reached_by_these_tests() -> None:
    assert set(NOTE_IN) == set(NoteStatus) - {NoteStatus.NONE}


@pytest.mark.parametrize("status", LIVE, ids=lambda s: s.name)
def test_freeze_accepts_a_live_note(consortium: Consortium, status: NoteStatus) -> None:
    c = consortium
    note = NOTE_IN[status](c)
    c.ledger.freeze(c.operator, note, REASON)
    assert c.ledger.get_note(note).frozen is True


@pytest.mark.parametrize("status", NOT_LIVE, ids=lambda s: s.name)
def test_freeze_refuses_a_note_that_is_not_live(consortium: Consortium, status: NoteStatus) -> None:
    c = consortium
    note = NOTE_IN[status](c)
    assert c.ledger.get_note(note).status == status
    with pytest.raises(errors.NoteNotLive) as exc:
        c.ledger.freeze(c.operator, note, REASON)
    assert exc.value.arguments == {"noteId": note, "status": status}


@pytest.mark.parametrize("status", PAYABLE, ids=lambda s: s.name)
def test_write_off_accepts_a_payable_note_past_maturity_plus_grace(
    consortium: Consortium, status: NoteStatus
) -> None:
    c = consortium
    note = NOTE_IN[status](c)
    c.ledger.write_off(c.operator, note, b"default-2")
    assert c.ledger.get_note(note).status == NoteStatus.WRITTEN_OFF


@pytest.mark.parametrize("status", NOT_PAYABLE, ids=lambda s: s.name)
def test_write_off_refuses_a_note_that_is_not_payable(consortium: Consortium, status: NoteStatus) -> None:
    c = consortium
    note = NOTE_IN[status](c)
    with pytest.raises(errors.NoteNotPayable) as exc:
        c.ledger.write_off(c.operator, note, b"default-2")
    assert exc.value.arguments == {"noteId": note, "status": status}


@pytest.mark.parametrize("status", PAYABLE, ids=lambda s: s.name)
def test_pay_settles_a_payable_note(consortium: Consortium, status: NoteStatus) -> None:
    c = consortium
    note = NOTE_IN[status](c)
    c.fund_tokens(c.core, AMOUNT)
    c.ledger.pay(c.core, note, AMOUNT)
    assert c.ledger.get_note(note).status == NoteStatus.SETTLED


@pytest.mark.parametrize("status", NOT_PAYABLE, ids=lambda s: s.name)
def test_pay_refuses_a_note_that_is_not_payable(consortium: Consortium, status: NoteStatus) -> None:
    c = consortium
    note = NOTE_IN[status](c)
    c.fund_tokens(c.core, AMOUNT)
    with pytest.raises(errors.NoteNotPayable) as exc:
        c.ledger.pay(c.core, note, AMOUNT)
    assert exc.value.arguments == {"noteId": note, "status": status}


@pytest.mark.parametrize("status", list(NOTE_IN), ids=lambda s: s.name)
def test_is_overdue_past_maturity_plus_grace_holds_exactly_for_a_payable_note(
    consortium: Consortium, status: NoteStatus
) -> None:
    c = consortium
    note = NOTE_IN[status](c)
    assert c.ledger.is_overdue(note) is status.is_payable
