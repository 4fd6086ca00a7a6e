"""Provenance queries over trees of notes inserted directly, on SQLite and on PostgreSQL.

The main fixture tree (root 1, issued by OBLIGOR to ALICE, amount 1000):

    R (ALICE, 1000) -- split --> P1 (ALICE, 600), P2 (BOB, 400)
    P1 -- split --> L1 (CAROL, 100), L2 (ALICE, 500); L2 transferred ALICE -> DAVE
    L2 -- split --> M1 (ERIN, 250), M2 (DAVE, 250)
    M1 -- split --> Q1 (ERIN, 200), Q2 (FRANK, 50)       Q1 is the deepest leaf (depth 4)

plus root 2 (BOB, 70) split into two, which must never leak into root 1's answers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import delete, insert, update
from sqlalchemy.orm import Session

from service.db.models import Base, Event, Note
from service.db.provenance import (
    NoteRow,
    StatusTotal,
    TreeVersion,
    ancestors,
    events_of,
    holder_path,
    page_events,
    tree,
    tree_page,
    tree_summary,
    tree_version,
    tree_with_events,
)
from service.domain import INDEX_BITS, MAX_AMOUNT, NoteStatus
from tests.databases import TestDatabase

OBLIGOR = "0x" + "0B" * 20
ALICE = "0x" + "A1" * 20
BOB = "0x" + "B0" * 20
CAROL = "0x" + "C0" * 20
DAVE = "0x" + "D0" * 20
ERIN = "0x" + "E0" * 20
FRANK = "0x" + "F0" * 20
BANK = "0x" + "BA" * 20
CONTRACT = "0x" + "CC" * 20


def note_id(root_seq: int, index: int = 0) -> int:
    return root_seq << INDEX_BITS | index


class Ledger:
    """Writes notes and the events that made them, one transaction (block) per operation. Event args
    are stored as the indexer stores them: uint256 values as decimal strings."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.block = 100
        self.notes: dict[int, dict[str, Any]] = {}
        self.next_index: dict[int, int] = {}

    def _tx(self) -> None:
        self.block += 1

    def _event(
        self, name: str, note: int, log_index: int, args: dict[str, Any], *, filed_under: int | None = None
    ) -> None:
        block, tx_hash = self.block, f"0x{self.block:064x}"
        self.session.execute(
            insert(Event),
            [
                {
                    "block_number": block,
                    "block_hash": f"0x{block + 1_000_000:064x}",
                    "block_time": 1_700_000_000 + block * 2,
                    "tx_hash": tx_hash,
                    "log_index": log_index,
                    "contract": CONTRACT,
                    "name": name,
                    "note_id": note if filed_under is None else filed_under,
                    "root_id": note >> INDEX_BITS << INDEX_BITS,
                    "args": args,
                }
            ],
        )

    def _note(self, nid: int, root: int, parent: int | None, depth: int, holder: str, amount: int) -> None:
        block, tx_hash = self.block, f"0x{self.block:064x}"
        row = {
            "id": nid,
            "root_id": root,
            "parent_id": parent,
            "depth": depth,
            "holder": holder,
            "obligor": OBLIGOR,
            "amount": amount,
            "currency": "CNY",
            "maturity": 1_800_000_000,
            "document_hash": f"0x{root:064x}",
            "status": int(NoteStatus.ACTIVE),
            "frozen": False,
            "created_block": block,
            "created_tx": tx_hash,
            "updated_block": block,
        }
        self.notes[nid] = row
        self.session.execute(insert(Note), [row])

    def issue(self, root_seq: int, holder: str, amount: int) -> int:
        root = note_id(root_seq)
        self._tx()
        self._note(root, root, None, 0, holder, amount)
        args = {
            "noteId": str(root),
            "obligor": OBLIGOR,
            "holder": holder,
            "amount": str(amount),
            "currency": "CNY",
        }
        self._event("NoteIssued", root, 0, args)
        self._tx()
        self._event("NoteAccepted", root, 0, {"noteId": str(root), "holder": holder})
        self.next_index[root] = 1
        return root

    def split(self, parent: int, *parts: tuple[str, int], file_under_parent: bool = False) -> list[int]:
        source = self.notes[parent]
        root = source["root_id"]
        assert sum(amount for _, amount in parts) == source["amount"]
        self._tx()
        children = []
        for log_index, (holder, amount) in enumerate(parts):
            child = root | self.next_index[root]
            self.next_index[root] += 1
            self._note(child, root, parent, source["depth"] + 1, holder, amount)
            args = {
                "parentId": str(parent),
                "noteId": str(child),
                "holder": holder,
                "rootId": str(root),
                "amount": str(amount),
            }
            self._event(
                "NoteSplit", child, log_index, args, filed_under=parent if file_under_parent else None
            )
            children.append(child)
        self.session.execute(
            update(Note)
            .where(Note.id == parent)
            .values(status=int(NoteStatus.SPLIT), updated_block=self.block)
        )
        return children

    def transfer(self, nid: int, to: str) -> None:
        self._tx()
        sender = self.notes[nid]["holder"]
        self.notes[nid]["holder"] = to
        self.session.execute(update(Note).where(Note.id == nid).values(holder=to))
        self._event("NoteTransferred", nid, 0, {"noteId": str(nid), "from": sender, "to": to})

    def discount(self, nid: int, financier: str, offer_id: int, price: int) -> None:
        """An offer by `financier` (one block) accepted by the holder (the next)."""
        holder = self.notes[nid]["holder"]
        offer = {"offerId": offer_id, "noteId": str(nid), "financier": financier}
        self._tx()
        self._event("DiscountOffered", nid, 0, offer | {"holder": holder, "price": str(price)})
        self._tx()
        self.notes[nid]["holder"] = financier
        self.session.execute(update(Note).where(Note.id == nid).values(holder=financier))
        args = {"noteId": str(nid), "from": holder, "to": financier, "offerId": offer_id, "price": str(price)}
        self._event("NoteDiscounted", nid, 0, args)

    def pay(self, nid: int, amount: int, *, reference: str | None = None) -> None:
        """A payment of `amount` (claimed by the obligor and confirmed if it has a reference)."""
        row = self.notes[nid]
        row["paid_amount"] = row.get("paid_amount", 0) + amount
        remaining = row["amount"] - row["paid_amount"]
        args = {"noteId": str(nid), "obligor": OBLIGOR, "holder": row["holder"], "amount": str(amount)}
        if reference is not None:
            self._tx()
            self._event("PaymentClaimed", nid, 0, args | {"paymentReference": reference})
        self._tx()
        paid = args | {"remaining": str(remaining), "paymentReference": reference or "0x" + "00" * 32}
        self._event("NotePaid", nid, 0, paid)
        status = NoteStatus.SETTLED if remaining == 0 else NoteStatus(row["status"])
        row["status"] = int(status)
        self.session.execute(
            update(Note).where(Note.id == nid).values(paid_amount=row["paid_amount"], status=int(status))
        )

    def write_off(self, nid: int) -> None:
        """Marked overdue (one block), then written off (the next)."""
        row = self.notes[nid]
        remaining = row["amount"] - row.get("paid_amount", 0)
        args = {"noteId": str(nid), "obligor": OBLIGOR, "holder": row["holder"]}
        self._tx()
        self._event("NoteOverdue", nid, 0, args | {"remaining": str(remaining)})
        self._tx()
        self._event("NoteWrittenOff", nid, 0, args | {"amount": str(remaining)})
        self.session.execute(
            update(Note)
            .where(Note.id == nid)
            .values(status=int(NoteStatus.WRITTEN_OFF), written_off_amount=remaining)
        )


@dataclasses.dataclass(frozen=True)
class Fixture:
    root: int
    p1: int
    p2: int
    l1: int
    l2: int
    m1: int
    m2: int
    q1: int
    q2: int
    other_root: int
    other_children: tuple[int, ...]


@pytest.fixture
def session(empty_db: TestDatabase) -> Iterator[Session]:
    Base.metadata.create_all(empty_db.engine)
    with Session(empty_db.engine) as session:
        yield session


@pytest.fixture
def ledger(session: Session) -> Ledger:
    return Ledger(session)


@pytest.fixture
def trees(ledger: Ledger, session: Session) -> Fixture:
    root = ledger.issue(1, ALICE, 1000)
    other_root = ledger.issue(2, BOB, 70)
    p1, p2 = ledger.split(root, (ALICE, 600), (BOB, 400))
    other_children = ledger.split(other_root, (BOB, 30), (CAROL, 40))
    l1, l2 = ledger.split(p1, (CAROL, 100), (ALICE, 500))
    ledger.transfer(l2, DAVE)
    m1, m2 = ledger.split(l2, (ERIN, 250), (DAVE, 250))
    q1, q2 = ledger.split(m1, (ERIN, 200), (FRANK, 50))
    session.commit()
    return Fixture(root, p1, p2, l1, l2, m1, m2, q1, q2, other_root, tuple(other_children))


def test_ancestors_of_deep_leaf_run_from_root_down_to_the_leaf(session: Session, trees: Fixture) -> None:
    path = ancestors(session, trees.q1)
    assert [n.id for n in path] == [trees.root, trees.p1, trees.l2, trees.m1, trees.q1]
    assert [n.depth for n in path] == [0, 1, 2, 3, 4]


def test_ancestors_carry_each_notes_own_columns(session: Session, trees: Fixture) -> None:
    path = ancestors(session, trees.q1)
    assert [(n.holder, n.amount) for n in path] == [
        (ALICE, 1000),
        (ALICE, 600),
        (DAVE, 500),
        (ERIN, 250),
        (ERIN, 200),
    ]
    assert [n.parent_id for n in path] == [None, trees.root, trees.p1, trees.l2, trees.m1]


def test_ancestors_of_root_is_just_the_root(session: Session, trees: Fixture) -> None:
    assert [n.id for n in ancestors(session, trees.root)] == [trees.root]


def test_ancestors_of_unknown_note_is_empty(session: Session, trees: Fixture) -> None:
    assert ancestors(session, note_id(99, 7)) == []


def test_ancestors_stop_at_a_parent_id_cycle(session: Session, ledger: Ledger) -> None:
    root = ledger.issue(1, ALICE, 10)
    a, _ = ledger.split(root, (ALICE, 5), (BOB, 5))
    session.execute(update(Note).where(Note.id == root).values(parent_id=a))
    session.commit()
    assert [n.id for n in ancestors(session, a)] == [root, a]


def test_tree_returns_every_note_of_the_root_ordered_by_id(session: Session, trees: Fixture) -> None:
    expected = [trees.root, trees.p1, trees.p2, trees.l1, trees.l2, trees.m1, trees.m2, trees.q1, trees.q2]
    assert [n.id for n in tree(session, trees.root)] == sorted(expected)


def test_tree_leaves_out_other_roots_notes(session: Session, trees: Fixture) -> None:
    ids = {n.id for n in tree(session, trees.root)}
    assert trees.other_root not in ids
    assert ids.isdisjoint(trees.other_children)
    assert [n.id for n in tree(session, trees.other_root)] == [trees.other_root, *trees.other_children]


def test_tree_of_unknown_root_is_empty(session: Session, trees: Fixture) -> None:
    assert tree(session, note_id(99)) == []


def test_tree_with_events_groups_each_nodes_events_in_chain_order(session: Session, trees: Fixture) -> None:
    result = tree_with_events(session, trees.root)
    assert [n.id for n in result.nodes] == [n.id for n in tree(session, trees.root)]
    assert [e.name for e in result.events[trees.root]] == ["NoteIssued", "NoteAccepted"]
    assert [e.name for e in result.events[trees.l2]] == ["NoteSplit", "NoteTransferred"]
    assert [e.name for e in result.events[trees.q2]] == ["NoteSplit"]
    for nid, events in result.events.items():
        assert all(e.note_id == nid and e.root_id == trees.root for e in events)
        assert [(e.block_number, e.log_index) for e in events] == sorted(
            (e.block_number, e.log_index) for e in events
        )


def test_tree_version_is_the_last_event_filed_under_the_root(session: Session, trees: Fixture) -> None:
    last = max(
        (e for events in tree_with_events(session, trees.root).events.values() for e in events),
        key=lambda e: (e.block_number, e.log_index),
    )
    assert tree_version(session, trees.root) == TreeVersion(
        last.block_number, last.log_index, last.block_hash
    )
    assert tree_version(session, trees.other_root) != tree_version(session, trees.root)


def test_tree_version_moves_with_every_change_to_the_tree_only(
    session: Session, ledger: Ledger, trees: Fixture
) -> None:
    before, other = tree_version(session, trees.root), tree_version(session, trees.other_root)
    ledger.transfer(trees.q2, ALICE)
    session.commit()
    after = tree_version(session, trees.root)
    assert after is not None and before is not None and after.block_number > before.block_number
    assert tree_version(session, trees.other_root) == other


def test_tree_version_of_unknown_root_is_none(session: Session) -> None:
    assert tree_version(session, 999 << 32) is None


def test_tree_with_events_holds_exactly_the_trees_events(session: Session, trees: Fixture) -> None:
    result = tree_with_events(session, trees.root)
    assert set(result.events) == {n.id for n in result.nodes}
    assert sum(len(events) for events in result.events.values()) == 2 + 8 + 1
    assert not any(
        e.note_id in {trees.other_root, *trees.other_children}
        for events in result.events.values()
        for e in events
    )


def test_tree_with_events_gives_a_node_without_events_an_empty_list(session: Session, trees: Fixture) -> None:
    session.execute(delete(Event).where(Event.note_id == trees.m2))
    session.commit()
    assert tree_with_events(session, trees.root).events[trees.m2] == []


def test_holder_path_follows_splits_and_a_transfer_from_root_to_note(
    session: Session, trees: Fixture
) -> None:
    steps = holder_path(session, trees.m2)
    assert [(s.note_id, s.event, s.previous_holder, s.holder) for s in steps] == [
        (trees.root, "NoteIssued", None, ALICE),
        (trees.root, "NoteAccepted", ALICE, ALICE),
        (trees.p1, "NoteSplit", ALICE, ALICE),
        (trees.l2, "NoteSplit", ALICE, ALICE),
        (trees.l2, "NoteTransferred", ALICE, DAVE),
        (trees.m2, "NoteSplit", DAVE, DAVE),
    ]


def test_holder_path_steps_carry_transaction_block_and_amount(session: Session, trees: Fixture) -> None:
    steps = holder_path(session, trees.m2)
    transfer = next(s for s in steps if s.event == "NoteTransferred")
    assert transfer.tx_hash == f"0x{transfer.block_number:064x}"
    assert transfer.block_time == 1_700_000_000 + transfer.block_number * 2
    assert transfer.amount == 500
    assert transfer.depth == 2
    assert [s.block_number for s in steps] == sorted(s.block_number for s in steps)


def test_holder_path_leaves_out_splits_into_siblings_filed_under_the_parent(
    session: Session, ledger: Ledger
) -> None:
    root = ledger.issue(1, ALICE, 90)
    _, b, _ = ledger.split(root, (BOB, 30), (CAROL, 30), (DAVE, 30), file_under_parent=True)
    session.commit()
    steps = holder_path(session, b)
    assert [(s.note_id, s.event, s.previous_holder, s.holder) for s in steps] == [
        (root, "NoteIssued", None, ALICE),
        (root, "NoteAccepted", ALICE, ALICE),
        (b, "NoteSplit", ALICE, CAROL),
    ]


def test_holder_path_of_unknown_note_is_empty(session: Session, trees: Fixture) -> None:
    assert holder_path(session, note_id(99, 1)) == []


def test_events_of_returns_only_the_requested_notes_in_chain_order(session: Session, trees: Fixture) -> None:
    events = events_of(session, [trees.l2, trees.root, trees.l2])
    assert [(e.note_id, e.name) for e in events] == [
        (trees.root, "NoteIssued"),
        (trees.root, "NoteAccepted"),
        (trees.l2, "NoteSplit"),
        (trees.l2, "NoteTransferred"),
    ]


def test_events_of_no_ids_is_empty(session: Session, trees: Fixture) -> None:
    assert events_of(session, []) == []


def test_events_of_many_ids_returns_every_event_in_chain_order(session: Session, ledger: Ledger) -> None:
    root = ledger.issue(1, ALICE, 1200)
    children = ledger.split(root, *[(BOB, 20)] * 60)
    leaves = [leaf for child in children for leaf in ledger.split(child, *[(CAROL, 1)] * 20)]
    session.commit()
    events = events_of(session, [root, *children, *leaves])
    assert len(events) == 2 + 60 + 1200
    assert [(e.block_number, e.log_index) for e in events] == sorted(
        (e.block_number, e.log_index) for e in events
    )


def test_amounts_are_exact_ints_at_the_maximum_amount(session: Session, ledger: Ledger) -> None:
    root = ledger.issue(1, ALICE, MAX_AMOUNT)
    big, one = ledger.split(root, (ALICE, MAX_AMOUNT - 1), (BOB, 1))
    session.commit()
    amounts = [n.amount for n in tree(session, root)]
    assert amounts == [2**80 - 1, 2**80 - 2, 1]
    assert all(type(a) is int for a in amounts)
    assert [n.amount for n in ancestors(session, big)] == [2**80 - 1, 2**80 - 2]
    assert [s.amount for s in holder_path(session, one)][-1] == 1


def test_rows_equal_rows_built_by_their_constructor(session: Session, trees: Fixture) -> None:
    row = ancestors(session, trees.root)[0]
    rebuilt = NoteRow(**{f.name: getattr(row, f.name) for f in dataclasses.fields(NoteRow)})
    assert row == rebuilt
    assert hash(row) == hash(rebuilt)
    assert repr(row) == repr(rebuilt)


def test_rows_are_frozen(session: Session, trees: Fixture) -> None:
    row = tree(session, trees.root)[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.amount = 1  # type: ignore[misc]


def test_tree_with_events_holds_discount_payment_claim_overdue_and_write_off_events(
    session: Session, trees: Fixture, ledger: Ledger
) -> None:
    ledger.discount(trees.p2, BANK, offer_id=1, price=390)
    ledger.pay(trees.p2, 100, reference="0x" + "ab" * 32)
    ledger.pay(trees.q2, 50)
    ledger.write_off(trees.l1)
    session.commit()
    events = tree_with_events(session, trees.root).events
    assert [e.name for e in events[trees.p2]] == [
        "NoteSplit",
        "DiscountOffered",
        "NoteDiscounted",
        "PaymentClaimed",
        "NotePaid",
    ]
    assert [e.name for e in events[trees.q2]] == ["NoteSplit", "NotePaid"]
    assert [e.name for e in events[trees.l1]] == ["NoteSplit", "NoteOverdue", "NoteWrittenOff"]
    assert [e.name for e in events_of(session, [trees.p2])][-2:] == ["PaymentClaimed", "NotePaid"]


def test_holder_path_follows_a_discount_to_the_financier(
    session: Session, trees: Fixture, ledger: Ledger
) -> None:
    ledger.discount(trees.q2, BANK, offer_id=7, price=45)
    session.commit()
    steps = holder_path(session, trees.q2)
    assert [(s.note_id, s.event, s.previous_holder, s.holder) for s in steps][-2:] == [
        (trees.q2, "NoteSplit", ERIN, FRANK),
        (trees.q2, "NoteDiscounted", FRANK, BANK),
    ]


def test_holder_path_of_a_child_of_a_discounted_note_starts_its_split_at_the_financier(
    session: Session, ledger: Ledger
) -> None:
    root = ledger.issue(1, ALICE, 100)
    ledger.discount(root, BANK, offer_id=1, price=95)
    _, child = ledger.split(root, (BANK, 60), (CAROL, 40))
    session.commit()
    steps = holder_path(session, child)
    assert [(s.event, s.previous_holder, s.holder) for s in steps] == [
        ("NoteIssued", None, ALICE),
        ("NoteAccepted", ALICE, ALICE),
        ("NoteDiscounted", ALICE, BANK),
        ("NoteSplit", BANK, CAROL),
    ]


def test_note_rows_carry_exact_paid_and_written_off_amounts(session: Session, ledger: Ledger) -> None:
    settled = ledger.issue(1, ALICE, MAX_AMOUNT)
    written_off = ledger.issue(2, BOB, MAX_AMOUNT)
    ledger.pay(settled, MAX_AMOUNT - 1)
    ledger.pay(settled, 1)
    ledger.pay(written_off, 2**79)
    ledger.write_off(written_off)
    session.commit()
    (a,) = tree(session, settled)
    (b,) = ancestors(session, written_off)
    assert (a.status, a.paid_amount, a.written_off_amount) == (NoteStatus.SETTLED, MAX_AMOUNT, 0)
    assert (b.status, b.paid_amount, b.written_off_amount) == (NoteStatus.WRITTEN_OFF, 2**79, 2**79 - 1)
    assert all(type(v) is int for v in (a.paid_amount, b.paid_amount, b.written_off_amount))


# ------------------------------------------------------------------ pages and summary
def test_tree_pages_cover_the_tree_in_id_order_without_other_roots(session: Session, trees: Fixture) -> None:
    whole = tree(session, trees.root)
    pages, after = [], -1
    while page := tree_page(session, trees.root, after, 3):
        pages.append(page)
        after = page[-1].id
    assert [len(p) for p in pages] == [3, 3, 3]
    assert [n for p in pages for n in p] == whole


def test_page_events_are_the_events_of_the_pages_nodes_only(session: Session, trees: Fixture) -> None:
    whole = tree_with_events(session, trees.root)
    page = tree_page(session, trees.root, trees.p1, 4)
    events = page_events(session, trees.root, page)
    assert list(events) == [n.id for n in page]
    assert events == {n.id: whole.events[n.id] for n in page}
    assert page_events(session, trees.root, []) == {}


def test_tree_summary_counts_and_sums_every_status_exactly(session: Session, ledger: Ledger) -> None:
    root = ledger.issue(1, ALICE, MAX_AMOUNT)
    ledger.issue(2, BOB, 70)  # another tree: never counted
    a, b, c = ledger.split(root, (ALICE, MAX_AMOUNT - 300), (BOB, 200), (CAROL, 100))
    ledger.pay(a, MAX_AMOUNT - 300)
    ledger.pay(b, 50)
    ledger.write_off(b)
    ledger.pay(c, 10)
    session.commit()
    assert tree_summary(session, root) == [
        StatusTotal(int(NoteStatus.ACTIVE), 1, 100, 10, 0),
        StatusTotal(int(NoteStatus.SPLIT), 1, MAX_AMOUNT, 0, 0),
        StatusTotal(int(NoteStatus.SETTLED), 1, MAX_AMOUNT - 300, MAX_AMOUNT - 300, 0),
        StatusTotal(int(NoteStatus.WRITTEN_OFF), 1, 200, 50, 150),
    ]
    assert tree_summary(session, note_id(9)) == []


def test_holder_path_with_the_ancestors_given_equals_it_without(session: Session, trees: Fixture) -> None:
    path = ancestors(session, trees.q1)
    assert holder_path(session, trees.q1, path) == holder_path(session, trees.q1)
