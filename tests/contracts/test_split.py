"""split: the holder of an active note consumes it into 2..100 children summing to its amount."""

from __future__ import annotations

import pytest

from service.domain import MAX_AMOUNT, MAX_SPLIT_PARTS, NoteStatus, Role
from service.ledger import errors
from tests.consortium import DEFAULT_LIMIT, Consortium
from tests.contracts.helpers import (
    ROLE_HOLDER,
    child_id,
    next_block_time,
    part,
    set_next_block_time,
    set_tree_last_index,
)

UNKNOWN_NOTE = 99 << 32

# ---------------------------------------------------------------- success


def test_split_into_two_parts_creates_active_children_and_consumes_the_parent(consortium: Consortium) -> None:
    c = consortium
    holder, a, b = c.suppliers
    root = c.active_note(amount=1_000, to=holder)
    result = c.ledger.split(holder, root, [part(a, 400), part(b, 600)])
    assert result.created_note_ids() == [child_id(root, 1), child_id(root, 2)]
    assert c.ledger.get_note(root).status == NoteStatus.SPLIT
    first, second = (c.ledger.get_note(i) for i in result.created_note_ids())
    assert (first.holder, first.amount, first.status, first.frozen) == (
        a.address,
        400,
        NoteStatus.ACTIVE,
        False,
    )
    assert (second.holder, second.amount, second.status) == (b.address, 600, NoteStatus.ACTIVE)
    assert c.ledger.tree_size(root) == 3


def test_split_emits_note_split_for_each_child_in_order(consortium: Consortium) -> None:
    c = consortium
    holder, a, b = c.suppliers
    root = c.active_note(amount=1_000, to=holder)
    result = c.ledger.split(holder, root, [part(a, 400), part(b, 600)])
    assert [(e.name, e.args) for e in result.events] == [
        (
            "NoteSplit",
            {
                "parentId": root,
                "noteId": child_id(root, 1),
                "holder": a.address,
                "rootId": root,
                "amount": 400,
            },
        ),
        (
            "NoteSplit",
            {
                "parentId": root,
                "noteId": child_id(root, 2),
                "holder": b.address,
                "rootId": root,
                "amount": 600,
            },
        ),
    ]


def test_split_children_keep_the_roots_obligor_currency_maturity_and_document(consortium: Consortium) -> None:
    c = consortium
    holder, a, b = c.suppliers
    root_id = c.active_note(amount=1_000, to=holder)
    root = c.ledger.get_note(root_id)
    result = c.ledger.split(holder, root_id, [part(a, 400), part(b, 600)])
    for note_id in result.created_note_ids():
        child = c.ledger.get_note(note_id)
        assert (child.obligor, child.currency, child.maturity, child.document_hash, child.root_id) == (
            root.obligor,
            root.currency,
            root.maturity,
            root.document_hash,
            root_id,
        )


def test_split_can_keep_a_part_for_the_caller(consortium: Consortium) -> None:
    c = consortium
    holder, other, _ = c.suppliers
    root = c.active_note(amount=1_000, to=holder)
    kept, given = c.ledger.split(holder, root, [part(holder, 700), part(other, 300)]).created_note_ids()
    assert (c.ledger.get_note(kept).holder, c.ledger.get_note(kept).amount) == (holder.address, 700)
    assert (c.ledger.get_note(given).holder, c.ledger.get_note(given).amount) == (other.address, 300)


def test_split_may_give_a_part_to_a_financier(consortium: Consortium) -> None:
    c = consortium
    holder = c.suppliers[0]
    root = c.active_note(amount=1_000, to=holder)
    _, to_bank = c.ledger.split(holder, root, [part(holder, 900), part(c.bank, 100)]).created_note_ids()
    assert c.ledger.get_note(to_bank).holder == c.bank.address


def test_split_into_fifty_parts_creates_consecutive_children_in_one_transaction(
    consortium: Consortium,
) -> None:
    c = consortium
    holder = c.suppliers[0]
    root = c.active_note(amount=5_000, to=holder)
    parts = [part(c.suppliers[i % 3], 100) for i in range(50)]
    result = c.ledger.split(holder, root, parts)
    assert result.created_note_ids() == [child_id(root, i) for i in range(1, 51)]
    assert c.ledger.tree_size(root) == 51
    last = c.ledger.get_note(child_id(root, 50))
    assert (last.holder, last.amount, last.status) == (c.suppliers[49 % 3].address, 100, NoteStatus.ACTIVE)


def test_splitting_a_child_continues_the_trees_numbering(consortium: Consortium) -> None:
    c = consortium
    holder, a, b = c.suppliers
    root = c.active_note(amount=1_000, to=holder)
    first, _ = c.ledger.split(holder, root, [part(a, 400), part(b, 600)]).created_note_ids()
    result = c.ledger.split(a, first, [part(a, 150), part(holder, 250)])
    assert result.created_note_ids() == [child_id(root, 3), child_id(root, 4)]
    assert [e.args["parentId"] for e in result.events] == [first, first]
    assert [e.args["rootId"] for e in result.events] == [root, root]
    assert c.ledger.get_note(first).status == NoteStatus.SPLIT
    assert c.ledger.tree_size(root) == 5


def test_split_leaves_the_obligors_outstanding_unchanged(consortium: Consortium) -> None:
    c = consortium
    holder, a, b = c.suppliers
    root = c.active_note(amount=1_000, to=holder)
    c.ledger.split(holder, root, [part(a, 400), part(b, 600)])
    assert c.ledger.credit_of(c.core.address) == (DEFAULT_LIMIT, 1_000)


def test_split_may_use_the_last_id_of_a_tree(consortium: Consortium) -> None:
    c = consortium
    holder, a, _ = c.suppliers
    root = c.active_note(amount=10, to=holder)
    set_tree_last_index(c, root, 2**32 - 3)
    result = c.ledger.split(holder, root, [part(a, 4), part(holder, 6)])
    assert result.created_note_ids() == [child_id(root, 2**32 - 2), child_id(root, 2**32 - 1)]


# ---------------------------------------------------------------- parts


def test_split_refuses_a_single_part(consortium: Consortium) -> None:
    c = consortium
    holder = c.suppliers[0]
    root = c.active_note(amount=1_000, to=holder)
    with pytest.raises(errors.InvalidPartCount) as exc:
        c.ledger.split(holder, root, [part(c.suppliers[1], 1_000)])
    assert exc.value.arguments == {"count": 1, "minParts": 2, "maxParts": MAX_SPLIT_PARTS}


def test_split_refuses_more_than_a_hundred_parts(consortium: Consortium) -> None:
    c = consortium
    holder = c.suppliers[0]
    root = c.active_note(amount=1_010, to=holder)
    with pytest.raises(errors.InvalidPartCount) as exc:
        c.ledger.split(holder, root, [part(c.suppliers[1], 10)] * 101)
    assert exc.value.arguments == {"count": 101, "minParts": 2, "maxParts": MAX_SPLIT_PARTS}


def test_split_refuses_a_zero_amount_part_and_names_its_index(consortium: Consortium) -> None:
    c = consortium
    holder, a, b = c.suppliers
    root = c.active_note(amount=1_000, to=holder)
    with pytest.raises(errors.ZeroAmount) as exc:
        c.ledger.split(holder, root, [part(a, 500), part(b, 500), part(a, 0)])
    assert exc.value.arguments == {"partIndex": 2}


def test_split_refuses_a_part_above_the_max_amount(consortium: Consortium) -> None:
    c = consortium
    holder, a, b = c.suppliers
    root = c.active_note(amount=1_000, to=holder)
    with pytest.raises(errors.AmountTooLarge) as exc:
        c.ledger.split(holder, root, [part(a, MAX_AMOUNT + 1), part(b, 1_000)])
    assert exc.value.arguments == {"amount": MAX_AMOUNT + 1, "maxAmount": MAX_AMOUNT}


def test_split_refuses_parts_that_sum_to_more_than_the_parent(consortium: Consortium) -> None:
    c = consortium
    holder, a, b = c.suppliers
    root = c.active_note(amount=1_000, to=holder)
    with pytest.raises(errors.AmountsDoNotSum) as exc:
        c.ledger.split(holder, root, [part(a, 400), part(b, 601)])
    assert exc.value.arguments == {"expected": 1_000, "actual": 1_001}


def test_split_refuses_parts_that_sum_to_less_than_the_parent(consortium: Consortium) -> None:
    c = consortium
    holder, a, b = c.suppliers
    root = c.active_note(amount=1_000, to=holder)
    with pytest.raises(errors.AmountsDoNotSum) as exc:
        c.ledger.split(holder, root, [part(a, 400), part(b, 599)])
    assert exc.value.arguments == {"expected": 1_000, "actual": 999}


# ---------------------------------------------------------------- recipients


def test_split_refuses_a_recipient_that_is_not_a_member(consortium: Consortium) -> None:
    c = consortium
    holder = c.suppliers[0]
    root = c.active_note(amount=1_000, to=holder)
    with pytest.raises(errors.NotAMember) as exc:
        c.ledger.split(holder, root, [part(holder, 500), part(c.outsider, 500)])
    assert exc.value.arguments == {"account": c.outsider.address}


def test_split_refuses_a_suspended_recipient(consortium: Consortium) -> None:
    c = consortium
    holder, suspended, _ = c.suppliers
    root = c.active_note(amount=1_000, to=holder)
    c.ledger.suspend_member(c.operator, suspended.address)
    with pytest.raises(errors.MemberNotActive) as exc:
        c.ledger.split(holder, root, [part(holder, 500), part(suspended, 500)])
    assert exc.value.arguments == {"account": suspended.address}


def test_split_refuses_a_recipient_with_only_the_auditor_role(consortium: Consortium) -> None:
    c = consortium
    holder = c.suppliers[0]
    root = c.active_note(amount=1_000, to=holder)
    with pytest.raises(errors.MissingRole) as exc:
        c.ledger.split(holder, root, [part(holder, 500), part(c.auditor, 500)])
    assert exc.value.arguments == {"account": c.auditor.address, "role": ROLE_HOLDER}


# ---------------------------------------------------------------- the note and its holder


def test_split_refuses_an_unknown_note(consortium: Consortium) -> None:
    c = consortium
    holder, a, _ = c.suppliers
    with pytest.raises(errors.NoteNotFound) as exc:
        c.ledger.split(holder, UNKNOWN_NOTE, [part(a, 1), part(holder, 1)])
    assert exc.value.arguments == {"noteId": UNKNOWN_NOTE}


def test_split_refuses_a_pending_note(consortium: Consortium) -> None:
    c = consortium
    holder, a, _ = c.suppliers
    root = c.issue(amount=1_000, to=holder)
    with pytest.raises(errors.NoteNotActive) as exc:
        c.ledger.split(holder, root, [part(a, 500), part(holder, 500)])
    assert exc.value.arguments == {"noteId": root, "status": NoteStatus.PENDING}


def test_split_refuses_a_note_that_was_already_split(consortium: Consortium) -> None:
    c = consortium
    holder, a, _ = c.suppliers
    root = c.active_note(amount=1_000, to=holder)
    c.ledger.split(holder, root, [part(a, 500), part(holder, 500)])
    with pytest.raises(errors.NoteNotActive) as exc:
        c.ledger.split(holder, root, [part(a, 500), part(holder, 500)])
    assert exc.value.arguments == {"noteId": root, "status": NoteStatus.SPLIT}


def test_split_refuses_a_frozen_note(consortium: Consortium) -> None:
    c = consortium
    holder, a, _ = c.suppliers
    root = c.active_note(amount=1_000, to=holder)
    c.ledger.freeze(c.operator, root, b"dispute")
    with pytest.raises(errors.NoteIsFrozen) as exc:
        c.ledger.split(holder, root, [part(a, 500), part(holder, 500)])
    assert exc.value.arguments == {"noteId": root}


def test_split_refuses_a_note_at_its_maturity(consortium: Consortium) -> None:
    c = consortium
    holder, a, _ = c.suppliers
    root = c.active_note(amount=1_000, to=holder, days=1)
    maturity = c.ledger.get_note(root).maturity
    set_next_block_time(c, maturity)
    with pytest.raises(errors.NoteMatured) as exc:
        c.ledger.split(holder, root, [part(a, 500), part(holder, 500)])
    assert exc.value.arguments == {"noteId": root, "maturity": maturity}


def test_split_refuses_a_child_note_past_the_roots_maturity(consortium: Consortium) -> None:
    c = consortium
    holder, a, _ = c.suppliers
    root = c.active_note(amount=1_000, to=holder, days=1)
    child, _ = c.ledger.split(holder, root, [part(a, 500), part(holder, 500)]).created_note_ids()
    c.chain.advance_time(2 * 86_400)
    maturity = c.ledger.get_note(root).maturity
    assert next_block_time(c) > maturity
    with pytest.raises(errors.NoteMatured) as exc:
        c.ledger.split(a, child, [part(a, 200), part(holder, 300)])
    assert exc.value.arguments == {"noteId": child, "maturity": maturity}


def test_split_refuses_a_caller_who_is_not_the_holder(consortium: Consortium) -> None:
    c = consortium
    holder, other, _ = c.suppliers
    root = c.active_note(amount=1_000, to=holder)
    with pytest.raises(errors.NotHolder) as exc:
        c.ledger.split(other, root, [part(other, 500), part(holder, 500)])
    assert exc.value.arguments == {"noteId": root, "caller": other.address}


def test_split_refuses_a_suspended_holder(consortium: Consortium) -> None:
    c = consortium
    holder, a, _ = c.suppliers
    root = c.active_note(amount=1_000, to=holder)
    c.ledger.suspend_member(c.operator, holder.address)
    with pytest.raises(errors.MemberNotActive) as exc:
        c.ledger.split(holder, root, [part(a, 500), part(holder, 500)])
    assert exc.value.arguments == {"account": holder.address}


def test_split_refuses_a_holder_who_no_longer_has_a_holder_role(consortium: Consortium) -> None:
    c = consortium
    holder, a, _ = c.suppliers
    root = c.active_note(amount=1_000, to=holder)
    c.ledger.set_member_roles(c.operator, holder.address, Role.AUDITOR)
    with pytest.raises(errors.MissingRole) as exc:
        c.ledger.split(holder, root, [part(a, 500), part(holder, 500)])
    assert exc.value.arguments == {"account": holder.address, "role": ROLE_HOLDER}


def test_split_refuses_a_tree_with_no_ids_left(consortium: Consortium) -> None:
    c = consortium
    holder, a, _ = c.suppliers
    root = c.active_note(amount=10, to=holder)
    set_tree_last_index(c, root, 2**32 - 2)
    with pytest.raises(errors.TreeFull) as exc:
        c.ledger.split(holder, root, [part(a, 4), part(holder, 6)])
    assert exc.value.arguments == {"rootId": root}
