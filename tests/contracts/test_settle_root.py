"""settleRoot: on or after maturity the obligor settles a whole tree in batches of up to 200 indices;
every live unfrozen note's holder is paid the note's remainder in settlement tokens. And the root's
face stays accounted for: live remainder + paid + written off."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_account.signers.local import LocalAccount

from service.domain import MAX_SETTLE_BATCH, NoteStatus
from service.ledger import errors
from service.ledger.types import TxResult
from tests.consortium import DAY, Consortium
from tests.contracts.helpers import (
    ZERO_HASH,
    at_maturity,
    child_id,
    mine_reverting,
    module_state,
    only_event,
    part,
    token_events,
)

AMOUNT = 1_000
UNKNOWN_NOTE = 99 << 32


@dataclass(frozen=True)
class Tree:
    """Root 1,000 to supplier 0, split into 1: s1 300 (split again into 4: s1 100, 5: s2 200),
    2: s2 300, 3: s0 400. Live leaves: 2, 3, 4, 5."""

    root: int
    s0: LocalAccount
    s1: LocalAccount
    s2: LocalAccount

    def note(self, index: int) -> int:
        return child_id(self.root, index)


LEAVES = {2: 300, 3: 400, 4: 100, 5: 200}


@pytest.fixture(scope="module", autouse=True)
def unmatured_tree(_deployed: Consortium) -> Iterator[Tree]:
    """The tree above, built once for the module (one day before maturity), the core funded with
    exactly the root's face amount and that allowance. Every test of the module starts from it."""
    c = _deployed
    with module_state(c):
        s0, s1, s2 = c.suppliers
        root = c.active_note(AMOUNT, s0, days=1)
        c.ledger.split(s0, root, [part(s1, 300), part(s2, 300), part(s0, 400)])
        c.ledger.split(s1, child_id(root, 1), [part(s1, 100), part(s2, 200)])
        c.fund_tokens(c.core, AMOUNT)
        yield Tree(root, s0, s1, s2)


@pytest.fixture
def tree(unmatured_tree: Tree, consortium: Consortium) -> Tree:
    """The module's tree, matured: the test's next transaction runs at maturity."""
    at_maturity(consortium, unmatured_tree.root)
    return unmatured_tree


def paid_events(result: TxResult) -> list[tuple[int, str, int, int]]:
    """(noteId, holder, amount, remaining) of each NotePaid event, in order."""
    assert {e.name for e in result.events} <= {"NotePaid"}
    return [
        (e.args["noteId"], e.args["holder"], e.args["amount"], e.args["remaining"]) for e in result.events
    ]


def outstanding(c: Consortium) -> int:
    return c.ledger.credit_of(c.core.address)[1]


# ---------------------------------------------------------------- settleRoot


def test_settle_root_pays_every_live_leaf_its_face_amount(tree: Tree, consortium: Consortium) -> None:
    c = consortium
    c.ledger.settle_root(c.core, tree.root, 0, MAX_SETTLE_BATCH)
    assert [c.ledger.get_note(tree.note(i)).status for i in range(6)] == [
        NoteStatus.SPLIT,
        NoteStatus.SPLIT,
        *[NoteStatus.SETTLED] * 4,
    ]
    assert [c.token.balance_of(s.address) for s in (tree.s0, tree.s1, tree.s2)] == [400, 100, 500]
    assert c.token.balance_of(c.core.address) == 0
    assert outstanding(c) == 0


def test_settle_root_emits_note_paid_per_leaf_in_index_order_with_its_transfers(
    tree: Tree, consortium: Consortium
) -> None:
    c = consortium
    result = c.ledger.settle_root(c.core, tree.root, 0, MAX_SETTLE_BATCH)
    holders = {2: tree.s2, 3: tree.s0, 4: tree.s1, 5: tree.s2}
    assert paid_events(result) == [(tree.note(i), holders[i].address, LEAVES[i], 0) for i in LEAVES]
    assert {(e.args["obligor"], e.args["paymentReference"]) for e in result.events} == {
        (c.core.address, ZERO_HASH)
    }
    assert token_events(c, result) == [
        ("Transfer", {"from": c.core.address, "to": holders[i].address, "value": LEAVES[i]}) for i in LEAVES
    ]


def test_settle_root_returns_the_number_of_notes_and_the_sum_paid(tree: Tree, consortium: Consortium) -> None:
    c = consortium
    call = c.ledger.contract.functions.settleRoot(tree.root, 0, MAX_SETTLE_BATCH)
    assert call.call({"from": c.core.address}, block_identifier="pending") == [4, AMOUNT]


def test_settle_root_in_batches_pays_each_note_once(tree: Tree, consortium: Consortium) -> None:
    c = consortium
    first = c.ledger.settle_root(c.core, tree.root, 0, 3)
    assert [e[0] for e in paid_events(first)] == [tree.note(2)]
    assert outstanding(c) == AMOUNT - 300
    second = c.ledger.settle_root(c.core, tree.root, 3, 3)
    assert [e[0] for e in paid_events(second)] == [tree.note(3), tree.note(4), tree.note(5)]
    assert outstanding(c) == 0


def test_settle_root_clips_a_batch_at_the_end_of_the_tree(tree: Tree, consortium: Consortium) -> None:
    c = consortium
    result = c.ledger.settle_root(c.core, tree.root, 4, MAX_SETTLE_BATCH)
    assert [e[0] for e in paid_events(result)] == [tree.note(4), tree.note(5)]


def test_settle_root_skips_frozen_notes_until_they_are_unfrozen(tree: Tree, consortium: Consortium) -> None:
    c = consortium
    c.ledger.freeze(c.operator, tree.note(3), b"dispute")
    result = c.ledger.settle_root(c.core, tree.root, 0, MAX_SETTLE_BATCH)
    assert [e[0] for e in paid_events(result)] == [tree.note(2), tree.note(4), tree.note(5)]
    frozen = c.ledger.get_note(tree.note(3))
    assert (frozen.status, frozen.frozen) == (NoteStatus.ACTIVE, True)
    assert outstanding(c) == 400
    c.ledger.unfreeze(c.operator, tree.note(3))
    again = c.ledger.settle_root(c.core, tree.root, 0, MAX_SETTLE_BATCH)
    assert paid_events(again) == [(tree.note(3), tree.s0.address, 400, 0)]


def test_settle_root_skips_notes_already_settled(tree: Tree, consortium: Consortium) -> None:
    c = consortium
    c.ledger.pay(c.core, tree.note(2), 300)
    result = c.ledger.settle_root(c.core, tree.root, 0, MAX_SETTLE_BATCH)
    assert [e[0] for e in paid_events(result)] == [tree.note(3), tree.note(4), tree.note(5)]
    assert c.token.balance_of(tree.s2.address) == 500


def test_settle_root_pays_only_the_remainder_of_a_partly_paid_note(
    tree: Tree, consortium: Consortium
) -> None:
    c = consortium
    c.ledger.pay(c.core, tree.note(3), 150)
    result = c.ledger.settle_root(c.core, tree.root, 3, 1)
    assert paid_events(result) == [(tree.note(3), tree.s0.address, 250, 0)]
    assert c.ledger.paid_amount(tree.note(3)) == 0
    assert c.token.balance_of(tree.s0.address) == 400


def test_settle_root_pays_an_overdue_note(tree: Tree, consortium: Consortium) -> None:
    c = consortium
    at_maturity(c, tree.root, c.ledger.grace_period())
    c.ledger.mark_overdue(c.outsider, tree.note(4))
    result = c.ledger.settle_root(c.core, tree.root, 4, 1)
    assert paid_events(result) == [(tree.note(4), tree.s1.address, 100, 0)]
    assert c.ledger.get_note(tree.note(4)).status == NoteStatus.SETTLED


def test_settle_root_skips_written_off_notes(tree: Tree, consortium: Consortium) -> None:
    c = consortium
    at_maturity(c, tree.root, c.ledger.grace_period())
    c.ledger.write_off(c.operator, tree.note(5), b"default-1")
    result = c.ledger.settle_root(c.core, tree.root, 0, MAX_SETTLE_BATCH)
    assert [e[0] for e in paid_events(result)] == [tree.note(2), tree.note(3), tree.note(4)]
    assert c.ledger.get_note(tree.note(5)).status == NoteStatus.WRITTEN_OFF


def test_settle_root_of_a_settled_tree_pays_nothing(tree: Tree, consortium: Consortium) -> None:
    c = consortium
    c.ledger.settle_root(c.core, tree.root, 0, MAX_SETTLE_BATCH)
    again = c.ledger.settle_root(c.core, tree.root, 0, MAX_SETTLE_BATCH)
    assert again.events == ()
    assert token_events(c, again) == []


def test_settle_root_leaves_a_pending_root_pending(consortium: Consortium) -> None:
    c = consortium
    root = c.issue(AMOUNT, days=1)
    at_maturity(c, root)
    before = outstanding(c)
    result = c.ledger.settle_root(c.core, root, 0, 1)
    assert result.events == ()
    assert c.ledger.get_note(root).status == NoteStatus.PENDING
    assert outstanding(c) == before


def test_settle_root_refuses_a_note_that_is_not_a_root(tree: Tree, consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NoteNotFound) as exc:
        c.ledger.settle_root(c.core, tree.note(2), 0, 1)
    assert exc.value.arguments == {"noteId": tree.note(2)}


def test_settle_root_refuses_an_unknown_root(consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NoteNotFound) as exc:
        c.ledger.settle_root(c.core, UNKNOWN_NOTE, 0, 1)
    assert exc.value.arguments == {"noteId": UNKNOWN_NOTE}


def test_settle_root_refuses_a_caller_who_is_not_the_obligor(tree: Tree, consortium: Consortium) -> None:
    c = consortium
    with pytest.raises(errors.NotObligor) as exc:
        c.ledger.settle_root(tree.s0, tree.root, 0, 1)
    assert exc.value.arguments == {"noteId": tree.root, "caller": tree.s0.address}


def test_settle_root_refuses_a_tree_one_second_before_maturity(
    unmatured_tree: Tree, consortium: Consortium
) -> None:
    c = consortium
    root = unmatured_tree.root
    maturity = at_maturity(c, root, -1)
    with pytest.raises(errors.NoteNotMatured) as exc:
        c.ledger.settle_root(c.core, root, 0, 1)
    assert exc.value.arguments == {"noteId": root, "maturity": maturity}


@pytest.mark.parametrize(("first", "count"), [(0, 0), (0, MAX_SETTLE_BATCH + 1), (6, 1)])
def test_settle_root_refuses_an_invalid_batch(
    tree: Tree, consortium: Consortium, first: int, count: int
) -> None:
    c = consortium
    with pytest.raises(errors.InvalidBatch) as exc:
        c.ledger.settle_root(c.core, tree.root, first, count)
    assert exc.value.arguments == {"firstIndex": first, "count": count, "lastIndex": 5}


def test_settle_root_refuses_a_currency_without_a_settlement_token(consortium: Consortium) -> None:
    c = consortium
    holder = c.suppliers[0]
    root = c.ledger.issue(c.core, holder.address, AMOUNT, "EUR", c.maturity(1), c.next_document())
    root_id = root.created_note_ids()[0]
    c.ledger.accept(holder, root_id)
    at_maturity(c, root_id)
    with pytest.raises(errors.SettlementTokenNotSet) as exc:
        c.ledger.settle_root(c.core, root_id, 0, 1)
    assert exc.value.arguments == {"currency": b"EUR"}


def test_settle_root_refuses_when_the_obligors_allowance_is_too_low(
    tree: Tree, consortium: Consortium
) -> None:
    c = consortium
    c.token.approve(c.core, c.ledger.address, AMOUNT - 1)
    with pytest.raises(errors.ERC20InsufficientAllowance) as exc:
        c.ledger.settle_root(c.core, tree.root, 0, MAX_SETTLE_BATCH)
    # the last transfer (note 5, 200) is the one that finds 199 left
    assert exc.value.arguments == {"spender": c.ledger.address, "allowance": 199, "needed": 200}


def test_settle_root_refuses_when_the_obligor_has_too_few_tokens(tree: Tree, consortium: Consortium) -> None:
    c = consortium
    c.token.burn(c.operator, c.core.address, 1, b"payout-1")
    with pytest.raises(errors.ERC20InsufficientBalance) as exc:
        c.ledger.settle_root(c.core, tree.root, 0, MAX_SETTLE_BATCH)
    assert exc.value.arguments == {"sender": c.core.address, "balance": 199, "needed": 200}


def test_a_failed_settlement_batch_changes_nothing(tree: Tree, consortium: Consortium) -> None:
    c = consortium
    c.token.approve(c.core, c.ledger.address, AMOUNT - 1)
    mine_reverting(c, c.ledger, c.core, "settleRoot", tree.root, 0, MAX_SETTLE_BATCH)
    assert [c.ledger.get_note(tree.note(i)).status for i in LEAVES] == [NoteStatus.ACTIVE] * 4
    assert [c.token.balance_of(s.address) for s in (tree.s0, tree.s1, tree.s2)] == [0, 0, 0]
    assert c.token.balance_of(c.core.address) == AMOUNT
    assert outstanding(c) == AMOUNT


# ---------------------------------------------------------------- conservation of the root's face


def _live_remainder(c: Consortium, tree: Tree) -> int:
    total = 0
    for index in range(c.ledger.tree_size(tree.root)):
        note = c.ledger.get_note(tree.note(index))
        if note.status.is_live:
            total += note.amount - c.ledger.paid_amount(note.note_id)
    return total


def test_root_face_equals_live_remainder_plus_paid_plus_written_off(
    tree: Tree, consortium: Consortium
) -> None:
    """At every step: face = what live notes still owe + every NotePaid amount + every write-off,
    and the obligor's outstanding is what live notes still owe."""
    c = consortium
    paid = written_off = 0

    def check() -> None:
        assert _live_remainder(c, tree) + paid + written_off == AMOUNT
        assert outstanding(c) == _live_remainder(c, tree)

    check()
    paid += only_event(c.ledger.pay(c.core, tree.note(3), 150), "NotePaid")["amount"]
    check()
    c.ledger.claim_payment(c.core, tree.note(5), 50, b"wire-5")
    paid += only_event(c.ledger.confirm_payment(tree.s2, tree.note(5), 50, b"wire-5"), "NotePaid")["amount"]
    check()
    at_maturity(c, tree.root, c.ledger.grace_period() + DAY)
    written_off += only_event(c.ledger.write_off(c.operator, tree.note(4), b"default-4"), "NoteWrittenOff")[
        "amount"
    ]
    check()
    paid += sum(e[2] for e in paid_events(c.ledger.settle_root(c.core, tree.root, 0, 3)))
    check()
    paid += sum(e[2] for e in paid_events(c.ledger.settle_root(c.core, tree.root, 3, 3)))
    check()
    assert (paid, written_off, _live_remainder(c, tree)) == (900, 100, 0)
    assert sum(c.token.balance_of(s.address) for s in (tree.s0, tree.s1, tree.s2)) == 850
