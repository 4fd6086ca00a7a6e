"""Reads from SQL shared by the routes: members, parties, notes and who may see them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal

from sqlalchemy import (
    BigInteger,
    BindParameter,
    ColumnElement,
    Select,
    String,
    and_,
    bindparam,
    exists,
    func,
    or_,
    select,
    union,
)
from sqlalchemy.orm import Session

from service.api.auth import find_caller, hash_key, sees_everything, unknown_key
from service.api.cache.callers import Caller
from service.api.cache.members import MemberRef
from service.api.context import AppContext
from service.api.display import display_amount
from service.api.notes.schemas import NoteOut
from service.api.problems import ProblemError
from service.api.schemas import to_datetime
from service.db.gateway_models import ApiMember, NoteReference
from service.db.models import Block, CreditGrant, Event, LedgerConfig, Member, Note
from service.db.provenance import NoteRow, note_row, select_notes
from service.domain import (
    DEFAULT_GRACE_PERIOD,
    FINANCIER,
    MemberStatus,
    NoteStatus,
    overdue_at,
    parse_ledger_id,
)


def references(session: Session, root_ids: Iterable[int]) -> dict[int, str]:
    wanted = set(root_ids)
    if not wanted:
        return {}
    rows = session.execute(
        select(NoteReference.note_id, NoteReference.reference).where(NoteReference.note_id.in_(wanted))
    )
    return {int(row[0]): str(row[1]) for row in rows}


def with_reference(reference: str) -> Select[Any]:
    """The roots issued with `reference` (exactly: the same text, case and spaces included)."""
    return select(NoteReference.note_id).where(NoteReference.reference == reference)


def updated_at_or_after(unix: int) -> ColumnElement[bool]:
    """SQL condition on `notes`: the note's row last changed (`updated_block`) in a block of time
    `unix` or later. Every change of a note comes from an event of its block, and block times never
    go back: the notes changed after the last block with an event before `unix` (found by reading
    `ix_events_block_number` backwards, over the events since `unix` only; `blocks` keeps recent
    blocks only)."""
    before = (
        select(Event.block_number)
        .where(Event.block_time < unix)
        .order_by(Event.block_number.desc())
        .limit(1)
        .scalar_subquery()
    )
    return Note.updated_block > func.coalesce(before, -1)


OverdueClock = Callable[[], tuple[int, int]]
"""(now, grace period) for deriving `overdue`: called only for notes that could be overdue."""


_HEAD_TIME = select(Block.timestamp).order_by(Block.number.desc()).limit(1).scalar_subquery()
_GRACE = (
    select(LedgerConfig.grace_period)
    .where(LedgerConfig.contract == bindparam("contract", type_=String))
    .scalar_subquery()
)
_CLOCK: Final = select(_HEAD_TIME, _GRACE)


def clock_values(head_time: int | None, grace: int | None) -> tuple[int, int]:
    """(now, grace period) from the latest indexed block's time (or the wall clock if later: a
    quiet chain mints no blocks) and the ledger's grace period (the default if not indexed)."""
    now = max(int(head_time or 0), int(time.time()))
    return now, int(grace) if grace is not None else DEFAULT_GRACE_PERIOD


def overdue_clock(session: Session, contract: str) -> OverdueClock:
    """A lazy `clock_values`, read once, on first use."""
    found: list[tuple[int, int]] = []

    def clock() -> tuple[int, int]:
        if not found:
            row = session.execute(_CLOCK, {"contract": contract}).one()
            found.append(clock_values(row[0], row[1]))
        return found[0]

    return clock


def payment_fields(n: Note | NoteRow, clock: OverdueClock | None) -> dict[str, Any]:
    """paid_amount, remaining, payment_status and overdue (derived, marked or not) of a note."""
    status = NoteStatus(n.status)
    paid = int(n.paid_amount or 0)
    if status is NoteStatus.WRITTEN_OFF:
        payment: str | None = "written_off"
    elif status is NoteStatus.SETTLED:
        payment = "paid"
    elif status.is_live:
        payment = "partially_paid" if paid else "unpaid"
    else:
        payment = None
    overdue = status is NoteStatus.OVERDUE
    if status is NoteStatus.ACTIVE and clock is not None:
        now, grace = clock()
        overdue = now >= overdue_at(n.maturity, grace)
    left = int(n.amount) - paid if status.is_live else 0
    return {
        "paid_amount": str(paid),
        "paid_amount_display": display_amount(paid, n.currency),
        "remaining": str(left),
        "remaining_display": display_amount(left, n.currency),
        "payment_status": payment,
        "overdue": overdue,
    }


def note_fields(
    n: Note | NoteRow, members: dict[str, MemberRef], reference: str | None, clock: OverdueClock | None = None
) -> dict[str, Any]:
    """The fields of `NoteOut` for a note row; `members` maps addresses to gateway members (id and
    name); `clock` derives `overdue` of active notes (without it, only notes marked overdue are)."""
    holder, obligor = members.get(n.holder), members.get(n.obligor)
    return {
        **payment_fields(n, clock),
        "id": str(n.id),
        "root_id": str(n.root_id),
        "parent_id": str(n.parent_id) if n.parent_id is not None else None,
        "depth": n.depth,
        "holder": n.holder,
        "holder_member": holder.id if holder else None,
        "holder_name": holder.name if holder else None,
        "obligor": n.obligor,
        "obligor_member": obligor.id if obligor else None,
        "obligor_name": obligor.name if obligor else None,
        "amount": str(n.amount),
        "amount_display": display_amount(n.amount, n.currency),
        "currency": n.currency,
        "maturity": to_datetime(n.maturity),
        "document_hash": n.document_hash,
        "status": NoteStatus(n.status).name.lower(),
        "frozen": bool(n.frozen),
        "reference": reference,
        "created_tx": n.created_tx,
        "created_block": n.created_block,
    }


def note_out(
    n: Note | NoteRow, members: dict[str, MemberRef], reference: str | None, clock: OverdueClock | None = None
) -> NoteOut:
    return NoteOut(**note_fields(n, members, reference, clock))


def notes_out(
    context: AppContext,
    session: Session,
    notes: Iterable[Note | NoteRow],
    refs: dict[int, str] | None = None,
) -> list[NoteOut]:
    """The notes as answered: member ids and names of holders and obligors (from the context's
    directory, one lookup for all), and the reference of each root (looked up unless `refs` gives them)."""
    notes = list(notes)
    members = context.members.find(session, {n.holder for n in notes} | {n.obligor for n in notes})
    if refs is None:
        refs = references(session, {n.root_id for n in notes})
    clock = overdue_clock(session, context.ledger.address)
    return [note_out(n, members, refs.get(n.root_id), clock) for n in notes]


@dataclass(frozen=True)
class NoteFilter:
    """Which notes a listing wants (every field optional): holder and obligor addresses, statuses,
    root, an issue's off-chain reference, maturity from (inclusive) and to (exclusive), changed at or
    after (unix seconds)."""

    holder: str | None = None
    obligor: str | None = None
    statuses: tuple[int, ...] | None = None
    root: int | None = None
    reference: str | None = None
    maturity_from: int | None = None
    maturity_to: int | None = None
    updated_since: int | None = None


def find_notes(
    context: AppContext,
    session: Session,
    member: ApiMember,
    wanted: NoteFilter,
    *,
    limit: int,
    cursor: int | None = None,
) -> tuple[list[NoteOut], str | None]:
    """The notes `member` may see (`visibility`) that `wanted` describes, by id after `cursor`,
    `limit` at a time, and the next page's cursor (None on the last page). The listing of
    `GET /v1/notes` and of the console's pages."""
    stmt = select(Note).order_by(Note.id).limit(limit + 1)
    if wanted.holder is not None:
        stmt = stmt.where(Note.holder == wanted.holder)
    if wanted.obligor is not None:
        stmt = stmt.where(Note.obligor == wanted.obligor)
    if wanted.statuses is not None:
        stmt = stmt.where(Note.status.in_(wanted.statuses))
    if wanted.root is not None:
        stmt = stmt.where(Note.root_id == wanted.root)
    if wanted.reference is not None:
        stmt = stmt.where(Note.root_id.in_(with_reference(wanted.reference)))
    if wanted.maturity_from is not None:
        stmt = stmt.where(Note.maturity >= wanted.maturity_from)
    if wanted.maturity_to is not None:
        stmt = stmt.where(Note.maturity < wanted.maturity_to)
    if wanted.updated_since is not None:
        stmt = stmt.where(updated_at_or_after(wanted.updated_since))
    if cursor is not None:
        stmt = stmt.where(Note.id > cursor)
    condition = visibility(member)
    if condition is not None:
        stmt = stmt.where(condition)
    rows = list(session.scalars(stmt).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return notes_out(context, session, rows), (str(rows[-1].id) if more else None)


PASSED_ON_EVENTS = ("NoteTransferred", "NoteDiscounted")
"""Events by which a note leaves its holder whole (`from`): the former holder keeps seeing its tree."""


def financed_obligors(financier: Any) -> Select[Any]:
    """The obligors a financier may see through a credit relationship: the obligor approved it (and
    did not withdraw) and its grant is above 0. A zero or withdrawn grant, or a grant never approved,
    gives no visibility."""
    grants = CreditGrant.__table__
    return select(grants.c.obligor).where(
        grants.c.financier == financier, grants.c.approved.is_(True), grants.c.amount > 0
    )


def visibility(member: ApiMember) -> ColumnElement[bool] | None:
    """SQL condition on `notes` for the notes `member` may see (None: all of them).

    A member sees the trees (same root) of notes it holds, held (transferred away or sold to a
    financier) or issued, and
    a financier also every note of an obligor that approved it and to which it grants credit (above 0).
    A suspended member sees only its own notes: those it holds or owes (not their trees).
    """
    if sees_everything(member):
        return None
    address = member.address
    if member.suspended:
        return or_(Note.holder == address, Note.obligor == address)
    roots = union(
        select(Note.root_id).where(Note.holder == address),
        select(Note.root_id).where(Note.obligor == address),
        select(Event.root_id).where(
            Event.name.in_(PASSED_ON_EVENTS),
            Event.args["from"].as_string() == address,
            Event.root_id.is_not(None),
        ),
    ).subquery()
    conditions: list[ColumnElement[bool]] = [Note.root_id.in_(select(roots.c.root_id))]
    if FINANCIER in member.role_names:
        conditions.append(Note.obligor.in_(financed_obligors(address)))
    return or_(*conditions)


# ------------------------------------------------------------------ one note, with the caller
_NOTES = Note.__table__
_OTHER = Note.__table__.alias("tree_note")
_EVENTS = Event.__table__
_API = ApiMember.__table__
_REFS = NoteReference.__table__
_MEMBERS = Member.__table__
_NOTE_COLUMNS: Final = len(select_notes().selected_columns)
Reach = Literal["all", "trees", "trees+grants", "own"]


def _note_visible(address: Any, financier: bool, own: bool = False) -> ColumnElement[bool]:
    """The same rule as `visibility`, for one row of `notes`: its tree has a note the member holds
    (or held before splitting it), a note it transferred away or sold, or it is the obligor; a financier also
    sees every note of an obligor that approved it and to which it grants credit (above 0); a
    suspended member (`own`) only the notes it holds or owes. Cheapest tests first."""
    if own:
        return or_(_NOTES.c.holder == address, _NOTES.c.obligor == address)
    tests: list[ColumnElement[bool]] = [
        _NOTES.c.holder == address,
        _NOTES.c.obligor == address,
        exists().where(_OTHER.c.root_id == _NOTES.c.root_id, _OTHER.c.holder == address),
        exists().where(
            _EVENTS.c.root_id == _NOTES.c.root_id,
            _EVENTS.c.name.in_(PASSED_ON_EVENTS),
            _EVENTS.c.args["from"].as_string() == address,
        ),
    ]
    if financier:
        tests.append(_NOTES.c.obligor.in_(financed_obligors(address)))
    return or_(*tests)


def _caller_and_note(reach: Reach) -> Select[Any]:
    """One statement: the caller's row if its API key still belongs to it unchanged, with the same
    registry status (else no row), left-joined with the note if the caller may see it (else NULLs),
    the note's reference, and the values of the overdue clock (`clock_values`)."""
    address: BindParameter[str] = bindparam("address", type_=String)
    on: ColumnElement[bool] = _NOTES.c.id == bindparam("note_id", type_=BigInteger)
    if reach != "all":
        on = and_(on, _note_visible(address, financier=reach == "trees+grants", own=reach == "own"))
    caller = _API.outerjoin(_MEMBERS, _MEMBERS.c.address == _API.c.address)
    return (
        select(_API.c.id, *select_notes().selected_columns, _REFS.c.reference, _HEAD_TIME, _GRACE)
        .select_from(caller.outerjoin(_NOTES, on).outerjoin(_REFS, _REFS.c.note_id == _NOTES.c.root_id))
        .where(
            _API.c.api_key_hash == bindparam("key_hash"),
            _API.c.id == bindparam("caller_id"),
            _API.c.address == address,
            _API.c.roles == bindparam("roles"),
            func.coalesce(_MEMBERS.c.status, int(MemberStatus.NONE)) == bindparam("status"),
        )
    )


_CALLER_AND_NOTE: Final[dict[Reach, Select[Any]]] = {
    reach: _caller_and_note(reach) for reach in ("all", "trees", "trees+grants", "own")
}


def _reach(caller: Caller | ApiMember) -> Reach:
    if sees_everything(caller):
        return "all"
    if caller.suspended:
        return "own"
    return "trees+grants" if FINANCIER in caller.role_names else "trees"


@dataclass(frozen=True)
class NoteRead:
    """What `read_note` found: the caller, and the note with its reference (None, None if the
    caller may not see it), and the overdue clock of the same instant."""

    caller: Caller
    note: NoteRow | None
    reference: str | None
    clock: OverdueClock


def read_note(context: AppContext, session: Session, key: str, raw_id: str) -> NoteRead:
    """Authenticate `key` and read note `raw_id` if the caller may see it, in one SQL statement
    when the key's member is in the context's cache (the statement re-checks that the key still
    belongs to that member), two otherwise. 401 for an unknown key."""
    key_hash = hash_key(key)
    note_id = parse_note_id(raw_id) if is_note_id(raw_id) else -1
    cached = context.callers.get(key_hash)
    caller = cached if cached is not None else find_caller(session, key_hash)
    while True:
        if caller is None:
            raise unknown_key()
        row = session.execute(
            _CALLER_AND_NOTE[_reach(caller)],
            {
                "key_hash": key_hash,
                "caller_id": caller.id,
                "address": caller.address,
                "roles": caller.roles,
                "status": caller.status,
                "note_id": note_id,
                "contract": context.ledger.address,
            },
        ).first()
        if row is not None:
            break
        # the key was replaced, or its member changed (roles, suspension) since it was cached:
        # look it up again
        context.callers.drop(key_hash)
        if cached is None:
            raise unknown_key()
        cached = None
        caller = find_caller(session, key_hash)
    context.callers.put(key_hash, caller)
    values = clock_values(row[-2], row[-1])
    clock: OverdueClock = lambda: values  # noqa: E731
    if row[1] is None:
        return NoteRead(caller, None, None, clock)
    return NoteRead(caller, note_row(row[1 : 1 + _NOTE_COLUMNS]), row[1 + _NOTE_COLUMNS], clock)


def read_note_of(context: AppContext, session: Session, member: ApiMember, raw_id: str) -> NoteRead:
    """What `read_note` finds, for a member already authenticated otherwise (a console session):
    note `raw_id` with its reference if `member` may see it (the same rule), 404 otherwise."""
    note_id = parse_note_id(raw_id)
    stmt = (
        select(*select_notes().selected_columns, _REFS.c.reference)
        .select_from(_NOTES.outerjoin(_REFS, _REFS.c.note_id == _NOTES.c.root_id))
        .where(_NOTES.c.id == note_id)
    )
    reach = _reach(member)
    if reach != "all":
        stmt = stmt.where(
            _note_visible(member.address, financier=reach == "trees+grants", own=reach == "own")
        )
    row = session.execute(stmt).first()
    if row is None:
        raise note_not_found(raw_id)
    status = int(MemberStatus.SUSPENDED) if member.suspended else int(MemberStatus.NONE)
    caller = Caller(member.id, member.address, member.roles, status)
    clock = overdue_clock(session, context.ledger.address)
    return NoteRead(caller, note_row(row[:_NOTE_COLUMNS]), row[_NOTE_COLUMNS], clock)


def is_note_id(raw: str) -> bool:
    return parse_ledger_id(raw) is not None


def parse_note_id(raw: str) -> int:
    """The note id in a path or query (404 `note-not-found` if `raw` is not one)."""
    note_id = parse_ledger_id(raw)
    if note_id is None:
        raise note_not_found(raw)
    return note_id


def note_not_found(raw: str | int) -> ProblemError:
    slug, status = "note-not-found", 404
    return ProblemError(status, slug, "No such note", f"no note {raw} that you may see")


def visible_note(session: Session, member: ApiMember, note_id: int) -> Note:
    """The note, if `member` may see it; 404 otherwise (whether or not it exists). The rule of
    `visibility` tested on this one note's tree (`_note_visible`), not on all the member's trees."""
    stmt = select(Note).where(Note.id == note_id)
    reach = _reach(member)
    if reach != "all":
        stmt = stmt.where(
            _note_visible(member.address, financier=reach == "trees+grants", own=reach == "own")
        )
    note = session.scalars(stmt).first()
    if note is None:
        raise note_not_found(note_id)
    return note
