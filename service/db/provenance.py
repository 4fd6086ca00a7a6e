"""Provenance queries: a note's ancestors, its root's whole tree, the events on every node, and the
path of holders from the root to a note.

Every function takes a SQLAlchemy `Session` and returns frozen dataclasses with plain typed fields
(amounts are exact Python `int`, never floats). The number of SQL statements never depends on the
size of the tree:

- `ancestors`: one recursive CTE walking `parent_id` (primary-key lookups, one per level).
- `tree`: one query on `root_id` (index `ix_notes_root_id (root_id, id)`).
- `tree_with_events`: `tree` plus one scan of `ix_events_root_id`.
- `tree_version`: the last event of a tree, one backward step on `ix_events_root_id`.
- `tree_page`: one range of `ix_notes_root_id` (the nodes after a cursor, up to a limit).
- `page_events`: one range of `ix_events_note_id` (the events of the nodes of a page).
- `tree_summary`: one aggregate over `ix_notes_root_id` (counts and amounts by status).
- `holder_path`: `ancestors` (unless given) plus one lookup of `ix_events_note_id` for the ids on
  the path.
- `events_of`: one lookup of `ix_events_note_id` per 500 ids.

Events are attached to notes through `events.note_id` (and found per tree through `events.root_id`,
which the indexer sets on every note event): issue, acceptance, splits, transfers and freezes, and
the financing events too — discount offers made, cancelled, paid off-chain and accepted (filed
under the offer's note), payments, payment claims, overdue marks and write-offs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Final, TypeVar

from sqlalchemy import BigInteger, Select, bindparam, func, select
from sqlalchemy.orm import Session

from service.db.models import Event, Note

__all__ = [
    "HOLDER_EVENTS",
    "EventRow",
    "HolderStep",
    "NoteRow",
    "StatusTotal",
    "TreeVersion",
    "TreeWithEvents",
    "ancestors",
    "ancestors_query",
    "events_of",
    "holder_path",
    "note_row",
    "page_events",
    "select_notes",
    "tree",
    "tree_page",
    "tree_query",
    "tree_summary",
    "tree_version",
    "tree_with_events",
]


@dataclass(frozen=True)
class NoteRow:
    """One note as stored in `notes`; `depth` is 0 at the root, `parent_id` is None only there.
    `paid_amount` is what was paid so far (the face amount once settled), `written_off_amount` the
    remainder the operator wrote off (0 otherwise)."""

    id: int
    root_id: int
    parent_id: int | None
    depth: int
    holder: str
    obligor: str
    amount: int
    currency: str
    maturity: int
    document_hash: str
    status: int
    frozen: bool
    created_block: int
    created_tx: str
    updated_block: int
    paid_amount: int
    written_off_amount: int


@dataclass(frozen=True)
class EventRow:
    """One decoded contract event as stored in `events`."""

    id: int
    note_id: int | None
    root_id: int | None
    name: str
    block_number: int
    block_hash: str
    block_time: int
    tx_hash: str
    log_index: int
    contract: str
    args: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class HolderStep:
    """One change (or confirmation) of who holds a note on the path from the root to a note.

    `event` is NoteIssued (the root's first holder; `previous_holder` is None), NoteAccepted (the
    holder accepted the pending root; `previous_holder == holder`), NoteSplit (the note was created
    by splitting its parent; `previous_holder` held the parent then), NoteTransferred, or
    NoteDiscounted (sold to a financier: `holder` is the financier).
    `amount` is the face amount of `note_id`.
    """

    note_id: int
    depth: int
    event: str
    holder: str
    previous_holder: str | None
    amount: int
    tx_hash: str
    block_number: int
    block_time: int
    log_index: int


@dataclass(frozen=True, slots=True)
class TreeWithEvents:
    """A whole tree ordered by id, and every node's events in chain order (an entry for every node,
    empty if it has none)."""

    nodes: list[NoteRow]
    events: dict[int, list[EventRow]]


@dataclass(frozen=True, slots=True)
class TreeVersion:
    """The last event filed under a tree's root: its position in the chain and its block's hash.
    The indexer writes a tree's notes with their events, so while this is unchanged the tree is; a
    block hash names the whole chain before it, so a reorganisation that touches the tree changes
    it."""

    block_number: int
    log_index: int
    block_hash: str


@dataclass(frozen=True, slots=True)
class StatusTotal:
    """The notes of a tree in one status: how many, their face amounts, what was paid on them and
    what was written off (exact integers)."""

    status: int
    notes: int
    amount: int
    paid_amount: int
    written_off_amount: int


HOLDER_EVENTS: Final = ("NoteIssued", "NoteAccepted", "NoteSplit", "NoteTransferred", "NoteDiscounted")
"""The events that set or change who holds a note."""

_NOTES = Note.__table__
_EVENTS = Event.__table__
_NOTE_FIELDS: Final = tuple(f.name for f in fields(NoteRow))
_EVENT_FIELDS: Final = tuple(f.name for f in fields(EventRow))
_IN_CHUNK: Final = 500


def select_notes() -> Select[Any]:
    """`SELECT <every NoteRow column> FROM notes`, to filter further; map its rows with `note_row`."""
    return select(*(_NOTES.c[name] for name in _NOTE_FIELDS))


def _select_events() -> Select[Any]:
    return select(*(_EVENTS.c[name] for name in _EVENT_FIELDS))


_EVENT_ORDER: Final = (_EVENTS.c.block_number, _EVENTS.c.log_index, _EVENTS.c.id)


# The statements are built once, with bound parameters: building a recursive CTE costs about as much
# Python time as running it, and an unchanged statement text lets psycopg prepare it server-side.


def _build_ancestors() -> Select[Any]:
    path = (
        select_notes()
        .where(_NOTES.c.id == bindparam("note_id", type_=BigInteger))
        .cte("note_path", recursive=True)
    )
    parent = _NOTES.alias("parent")
    path = path.union_all(
        select(*(parent.c[name] for name in _NOTE_FIELDS)).where(
            parent.c.id == path.c.parent_id, parent.c.depth < path.c.depth
        )
    )
    return select(*(path.c[name] for name in _NOTE_FIELDS)).order_by(path.c.depth)


_ANCESTORS: Final = _build_ancestors()
_TREE: Final = (
    select_notes().where(_NOTES.c.root_id == bindparam("root_id", type_=BigInteger)).order_by(_NOTES.c.id)
)
_TREE_PAGE: Final = (
    select_notes()
    .where(
        _NOTES.c.root_id == bindparam("root_id", type_=BigInteger),
        _NOTES.c.id > bindparam("after", type_=BigInteger),
    )
    .order_by(_NOTES.c.id)
    .limit(bindparam("limit"))
)
_PAGE_EVENTS: Final = (
    _select_events()
    .where(
        _EVENTS.c.note_id >= bindparam("first", type_=BigInteger),
        _EVENTS.c.note_id <= bindparam("last", type_=BigInteger),
        _EVENTS.c.root_id == bindparam("root_id", type_=BigInteger),
    )
    .order_by(*_EVENT_ORDER)
)
_SUMMARY_ROWS: Final = select(
    _NOTES.c.status, _NOTES.c.amount, _NOTES.c.paid_amount, _NOTES.c.written_off_amount
).where(_NOTES.c.root_id == bindparam("root_id", type_=BigInteger))
_SUMMARY_SQL: Final = (
    select(
        _NOTES.c.status,
        func.count(),
        func.sum(_NOTES.c.amount),
        func.sum(_NOTES.c.paid_amount),
        func.sum(_NOTES.c.written_off_amount),
    )
    .where(_NOTES.c.root_id == bindparam("root_id", type_=BigInteger))
    .group_by(_NOTES.c.status)
)
_TREE_EVENTS: Final = (
    _select_events()
    .where(_EVENTS.c.root_id == bindparam("root_id", type_=BigInteger), _EVENTS.c.note_id.is_not(None))
    .order_by(*_EVENT_ORDER)
)
_TREE_VERSION: Final = (
    select(_EVENTS.c.block_number, _EVENTS.c.log_index, _EVENTS.c.block_hash)
    .where(_EVENTS.c.root_id == bindparam("root_id", type_=BigInteger))
    .order_by(_EVENTS.c.block_number.desc(), _EVENTS.c.log_index.desc())
    .limit(1)
)
_EVENTS_OF: Final = (
    _select_events()
    .where(_EVENTS.c.note_id.in_(bindparam("note_ids", expanding=True)))
    .order_by(*_EVENT_ORDER)
)
_HOLDER_EVENTS_OF: Final = _EVENTS_OF.where(_EVENTS.c.name.in_(HOLDER_EVENTS))

_Row = TypeVar("_Row")


def _row_builder(cls: type[_Row]) -> Callable[[Iterable[Any]], _Row]:
    """A fast constructor of the frozen dataclass `cls` from a result row in field order.

    A frozen dataclass's `__init__` sets each field through `object.__setattr__`, which costs about
    as much as fetching the row; filling the instance dict in one `update` halves the Python time of
    a 10,000-note tree. The result is indistinguishable from `cls(*values)` (same fields, equality,
    hash, repr); the classes define no `__post_init__`.
    """
    names = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
    new = object.__new__

    def build(values: Iterable[Any]) -> _Row:
        row = new(cls)
        row.__dict__.update(zip(names, values, strict=True))
        return row

    return build


note_row: Final = _row_builder(NoteRow)
"""`NoteRow(*values)` for a row of `select_notes()`, built the fast way."""
_event_row = _row_builder(EventRow)


def _note_rows(session: Session, stmt: Select[Any], params: dict[str, Any]) -> list[NoteRow]:
    build = note_row
    return [build(row) for row in session.execute(stmt, params).all()]


def _event_rows(session: Session, stmt: Select[Any], params: dict[str, Any]) -> list[EventRow]:
    build = _event_row
    return [build(row) for row in session.execute(stmt, params).all()]


def ancestors_query(note_id: int) -> Select[Any]:
    """The statement `ancestors` runs, with `note_id` bound (for EXPLAIN): a recursive CTE from the
    note up `parent_id`, carrying every NoteRow column, ordered by depth. Each step must strictly
    decrease `depth`, so a corrupt cycle in `parent_id` ends the walk instead of looping."""
    return _ANCESTORS.params(note_id=note_id)


def ancestors(session: Session, note_id: int) -> list[NoteRow]:
    """The path from the root down to `note_id`: root first, the note itself last (so the root's
    ancestors are `[root]`); empty if the note is unknown. One query (`ancestors_query`)."""
    return _note_rows(session, _ANCESTORS, {"note_id": note_id})


def tree_query(root_id: int) -> Select[Any]:
    """The statement `tree` runs, with `root_id` bound (for EXPLAIN): `WHERE root_id = :root_id`,
    served by `ix_notes_root_id`."""
    return _TREE.params(root_id=root_id)


def tree(session: Session, root_id: int) -> list[NoteRow]:
    """Every note of the tree rooted at `root_id` (the root included), ordered by id; empty if the
    root is unknown. One query (`tree_query`)."""
    return _note_rows(session, _TREE, {"root_id": root_id})


def tree_version(session: Session, root_id: int) -> TreeVersion | None:
    """The version of the tree of `root_id` in the index (None if nothing is filed under it): one
    backward step on `ix_events_root_id`."""
    row = session.execute(_TREE_VERSION, {"root_id": root_id}).first()
    return None if row is None else TreeVersion(int(row[0]), int(row[1]), str(row[2]))


def tree_with_events(session: Session, root_id: int) -> TreeWithEvents:
    """`tree(root_id)` and the events of each of its nodes, grouped by note id, each group in chain
    order (block number, log index). Two queries whatever the size of the tree: the second reads
    `ix_events_root_id`, so it relies on the indexer setting `events.root_id` on every note event."""
    nodes = tree(session, root_id)
    grouped: dict[int, list[EventRow]] = {node.id: [] for node in nodes}
    for event in _event_rows(session, _TREE_EVENTS, {"root_id": root_id}):
        assert event.note_id is not None
        bucket = grouped.get(event.note_id)
        if bucket is None:  # an event whose note row is not (yet) indexed
            bucket = grouped[event.note_id] = []
        bucket.append(event)
    return TreeWithEvents(nodes, grouped)


def tree_page(session: Session, root_id: int, after: int, limit: int) -> list[NoteRow]:
    """The nodes of the tree of `root_id` with an id above `after`, in id order, at most `limit`:
    one range of `ix_notes_root_id (root_id, id)`."""
    return _note_rows(session, _TREE_PAGE, {"root_id": root_id, "after": after, "limit": limit})


def page_events(session: Session, root_id: int, nodes: list[NoteRow]) -> dict[int, list[EventRow]]:
    """The events of `nodes` (a page of the tree of `root_id`, in id order), grouped by note id,
    each group in chain order; an entry for every node. One range of `ix_events_note_id` from the
    first id to the last: the ids of a tree share the root's high bits, so every id in between is a
    note of the same tree, and of the page."""
    grouped: dict[int, list[EventRow]] = {node.id: [] for node in nodes}
    if not nodes:
        return grouped
    params = {"first": nodes[0].id, "last": nodes[-1].id, "root_id": root_id}
    for event in _event_rows(session, _PAGE_EVENTS, params):
        bucket = grouped.get(event.note_id) if event.note_id is not None else None
        if bucket is not None:
            bucket.append(event)
    return grouped


def tree_summary(session: Session, root_id: int) -> list[StatusTotal]:
    """How many notes of the tree of `root_id` are in each status and their amounts, by status.
    One statement: grouped in SQL on PostgreSQL; on SQLite, whose exact integers are strings, the
    four columns are read and summed here."""
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(_SUMMARY_SQL, {"root_id": root_id})
        found = [StatusTotal(int(s), int(n), int(a), int(p or 0), int(w or 0)) for s, n, a, p, w in rows]
        return sorted(found, key=lambda total: total.status)
    totals: dict[int, list[int]] = {}
    for status, amount, paid, written in session.execute(_SUMMARY_ROWS, {"root_id": root_id}):
        total = totals.setdefault(int(status), [0, 0, 0, 0])
        total[0] += 1
        total[1] += int(amount)
        total[2] += int(paid or 0)
        total[3] += int(written or 0)
    return [StatusTotal(status, *values) for status, values in sorted(totals.items())]


def events_of(session: Session, note_ids: Iterable[int]) -> list[EventRow]:
    """Every event on any of `note_ids`, in chain order (block number, log index). One query per
    500 distinct ids."""
    ids = sorted(set(note_ids))
    events: list[EventRow] = []
    for start in range(0, len(ids), _IN_CHUNK):
        events.extend(_event_rows(session, _EVENTS_OF, {"note_ids": ids[start : start + _IN_CHUNK]}))
    if len(ids) > _IN_CHUNK:
        events.sort(key=lambda e: (e.block_number, e.log_index, e.id))
    return events


def _as_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError:
            return None
    return None


def _as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def holder_path(session: Session, note_id: int, path: list[NoteRow] | None = None) -> list[HolderStep]:
    """Who held each note from the root down to `note_id`, in chain order: the root's issue and
    acceptance, its transfers, the split that created the next note on the path, that note's
    transfers and discounts, and so on down to `note_id` itself; empty if the note is unknown.

    A NoteSplit belongs to the child it created (`args["noteId"]`, else `events.note_id`), so a
    split of an ancestor into siblings off the path is left out whichever of parent or child the
    indexer files it under. Holders come from the event arguments (`holder`, `from`, `to`), falling
    back to the note rows where an argument is missing. `path`, if given, is `ancestors(note_id)`
    as already read (one statement fewer).
    """
    if path is None:
        path = ancestors(session, note_id)
    if not path:
        return []
    by_id = {node.id: node for node in path}
    current: dict[int, str] = {}  # holder of each note on the path as the replay goes
    steps: list[HolderStep] = []
    for event in _event_rows(session, _HOLDER_EVENTS_OF, {"note_ids": list(by_id)}):
        target = event.note_id
        if event.name == "NoteSplit":
            child = _as_int(event.args.get("noteId"))
            target = event.note_id if child is None else child
        node = by_id.get(target) if target is not None else None
        if node is None:
            continue
        holder = _as_str(event.args.get("holder"))
        previous: str | None
        if event.name == "NoteIssued":
            previous = None
            holder = holder or node.holder
        elif event.name == "NoteAccepted":
            previous = current.get(node.id, holder or node.holder)
            holder = holder or previous
        elif event.name == "NoteSplit":
            parent = by_id.get(node.parent_id) if node.parent_id is not None else None
            previous = current.get(parent.id, parent.holder) if parent is not None else None
            holder = holder or node.holder
        else:  # NoteTransferred, NoteDiscounted
            previous = _as_str(event.args.get("from")) or current.get(node.id)
            holder = _as_str(event.args.get("to")) or node.holder
        current[node.id] = holder
        steps.append(
            HolderStep(
                note_id=node.id,
                depth=node.depth,
                event=event.name,
                holder=holder,
                previous_holder=previous,
                amount=node.amount,
                tx_hash=event.tx_hash,
                block_number=event.block_number,
                block_time=event.block_time,
                log_index=event.log_index,
            )
        )
    return steps
