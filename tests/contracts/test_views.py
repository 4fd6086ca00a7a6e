"""View functions: getNote, treeSize, creditOf, and the contract's public constants."""

from __future__ import annotations

import pytest

from service.domain import INDEX_BITS, MAX_AMOUNT, MAX_SPLIT_PARTS, NoteStatus, Role
from tests.consortium import DAY, DEFAULT_LIMIT, Consortium
from tests.contracts.helpers import ZERO_ADDRESS, ZERO_HASH, child_id, part


@pytest.mark.parametrize("note_id", [0, 12_345, 7 << INDEX_BITS], ids=["zero", "small", "root-shaped"])
def test_get_note_of_an_unknown_id_returns_zeros(consortium: Consortium, note_id: int) -> None:
    note = consortium.ledger.get_note(note_id)
    assert (note.holder, note.obligor, note.amount, note.currency, note.maturity) == (
        ZERO_ADDRESS,
        ZERO_ADDRESS,
        0,
        "",
        0,
    )
    assert (note.status, note.frozen, note.document_hash) == (NoteStatus.NONE, False, ZERO_HASH)
    assert note.root_id == note_id >> INDEX_BITS << INDEX_BITS


def test_get_note_of_an_unknown_child_id_in_an_existing_tree_returns_zeros(consortium: Consortium) -> None:
    c = consortium
    root = c.active_note()
    note = c.ledger.get_note(child_id(root, 7))
    assert note.status == NoteStatus.NONE
    assert (note.obligor, note.currency, note.maturity, note.document_hash) == (
        ZERO_ADDRESS,
        "",
        0,
        ZERO_HASH,
    )


def test_tree_size_of_an_unknown_root_is_zero(consortium: Consortium) -> None:
    assert consortium.ledger.tree_size(5 << INDEX_BITS) == 0


def test_tree_size_counts_the_root_and_every_child(consortium: Consortium) -> None:
    c = consortium
    holder, a, b = c.suppliers
    root = c.active_note(amount=1_000, to=holder)
    first, _ = c.ledger.split(holder, root, [part(a, 400), part(b, 600)]).created_note_ids()
    c.ledger.split(a, first, [part(a, 100), part(b, 100), part(holder, 200)])
    assert c.ledger.tree_size(root) == 6


def test_tree_size_of_any_note_in_the_tree_is_the_whole_tree_size(consortium: Consortium) -> None:
    c = consortium
    holder, a, _ = c.suppliers
    root = c.active_note(amount=1_000, to=holder)
    first, second = c.ledger.split(holder, root, [part(a, 400), part(holder, 600)]).created_note_ids()
    assert c.ledger.tree_size(second) == c.ledger.tree_size(first) == 3


def test_tree_size_counts_a_rejected_root(consortium: Consortium) -> None:
    c = consortium
    root = c.issue()
    c.ledger.reject(c.suppliers[0], root)
    assert c.ledger.tree_size(root) == 1


def test_credit_of_an_address_without_grants_is_zero(consortium: Consortium) -> None:
    assert consortium.ledger.credit_of(consortium.outsider.address) == (0, 0)


def test_credit_of_outstanding_decreases_when_a_note_is_rejected_or_revoked(consortium: Consortium) -> None:
    c = consortium
    rejected = c.issue(amount=100)
    revoked = c.issue(amount=200)
    c.active_note(amount=400)
    assert c.ledger.credit_of(c.core.address) == (DEFAULT_LIMIT, 700)
    c.ledger.reject(c.suppliers[0], rejected)
    assert c.ledger.credit_of(c.core.address) == (DEFAULT_LIMIT, 600)
    c.ledger.revoke(c.core, revoked)
    assert c.ledger.credit_of(c.core.address) == (DEFAULT_LIMIT, 400)


def test_contract_constants_match_the_domain_constants(consortium: Consortium) -> None:
    fns = consortium.ledger.contract.functions
    assert fns.MAX_AMOUNT().call() == MAX_AMOUNT
    assert fns.MAX_SPLIT_PARTS().call() == MAX_SPLIT_PARTS
    assert fns.MIN_TENOR_BOUND().call() == DAY
    assert fns.MAX_TENOR_BOUND().call() == 3650 * DAY
    assert fns.ROLE_CORE_ENTERPRISE().call() == Role.CORE_ENTERPRISE
    assert fns.ROLE_SUPPLIER().call() == Role.SUPPLIER
    assert fns.ROLE_FINANCIER().call() == Role.FINANCIER
    assert fns.ROLE_AUDITOR().call() == Role.AUDITOR
