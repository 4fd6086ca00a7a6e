"""The answer of GET /v1/notes/{id}/provenance, assembled from parts rendered from SQL or taken from
the gateway's `ProvenanceCache` while they are still the answer (see `service.api.cache.provenance`).

An answer is the note's path (ancestors and holder path), the summary of its root's tree and one
page of the tree (nodes in id order after `cursor`, at most `limit`, each with its events). The page
and the summary are shared by every note of the tree, so reading the notes of one tree in turn
renders the tree's pages once. What a caller may see of discount offers (`offer_visibility`, the rule
of the offer endpoints) is applied per request when the answer is assembled: the events of an offer
it may not see (DiscountOffered, DiscountOfferCancelled, DiscountPaymentRecorded) are left out, and
a NoteDiscounted of such an offer keeps who sold to whom but not the offer's id, price or payment
reference. The ETag is a hash of the body as assembled for the caller.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from pydantic import TypeAdapter
from sqlalchemy.orm import Session

from service.api.auth import sees_everything
from service.api.cache.members import MemberRef
from service.api.cache.provenance import CachedPart, ClockWindow, EventPiece, NodePiece
from service.api.context import AppContext
from service.api.display import display_amount
from service.api.financing.queries import visible_offer_ids
from service.api.notes.queries import NoteRead, note_out, read_note_of
from service.api.notes.schemas import EventOut, HolderStepOut, NoteOut, StatusTotalOut, TreeSummaryOut
from service.api.schemas import to_datetime
from service.db import provenance
from service.db.gateway_models import ApiMember
from service.db.provenance import EventRow, NoteRow, TreeVersion
from service.domain import NoteStatus, overdue_at

NO_EVENTS = TreeVersion(-1, -1, "")
"""The version of a tree with no event in the index (not seen in practice: a note comes with its
NoteIssued or NoteSplit event)."""

OFFER_EVENTS: Final = frozenset({"DiscountOffered", "DiscountOfferCancelled", "DiscountPaymentRecorded"})
"""Events of a discount offer: shown only to callers who may see the offer."""
OFFER_TERMS: Final = ("offerId", "price", "paymentReference")
"""Arguments of NoteDiscounted left out for callers who may not see its offer."""

CURRENCY_ARGS: Final = frozenset({"currency"})
"""Event arguments that are a currency (bytes3)."""
TIME_ARGS: Final = frozenset({"maturity", "deadline"})
"""Event arguments that are a time (unix seconds)."""

DEFAULT_TREE_LIMIT: Final = 200
"""Nodes of the tree in one answer unless the request says otherwise."""
MAX_TREE_LIMIT: Final = 1000
"""The most nodes of the tree one answer carries (about 1 MB of JSON)."""

_NOTES: Final = TypeAdapter(list[NoteOut])
_NOTE: Final = TypeAdapter(NoteOut)
_STEPS: Final = TypeAdapter(list[HolderStepOut])
_EVENT: Final = TypeAdapter(EventOut)
_SUMMARY: Final = TypeAdapter(TreeSummaryOut)


@dataclass(frozen=True, slots=True)
class TreePage:
    """Which page of the tree an answer carries: the nodes with an id above `after` (-1: from the
    root), at most `limit`."""

    after: int
    limit: int


@dataclass(frozen=True, slots=True)
class Answer:
    body: bytes
    etag: str
    from_cache: bool
    """Whether every part came from the cache."""


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def answer(
    context: AppContext, session: Session, note: NoteRow, found: NoteRead, page: TreePage, *, render: bool
) -> Answer | None:
    """The provenance answer of `note` for the caller of `found`. Parts in the cache that are still
    the answer are used; the others are rendered (and cached) if `render`, else None is returned
    (the caller renders in a snapshot then). Statements: the tree's version, the member directory
    if a cached part lacked member ids, the offers the caller may see if the page shows any offer
    and the caller does not see all; for a rendered path two more (ancestors, holder events), a
    rendered page two (nodes, events), a rendered summary one."""
    cache = context.provenance
    version = provenance.tree_version(session, note.root_id) or NO_EVENTS
    now, grace = found.clock()
    keys = {
        "path": ("path", note.id),
        "page": ("page", note.root_id, page.after, page.limit),
        "summary": ("summary", note.root_id),
    }
    parts: dict[str, CachedPart] = {}
    if cache.enabled:
        for name, key in keys.items():
            part = cache.get(key)
            if (
                part is not None
                and part.root_id == note.root_id
                and part.matches(version, found.reference, now, grace)
            ):
                parts[name] = part
        unknown = frozenset().union(*(part.unknown_addresses for part in parts.values()))
        if unknown:
            known = context.members.ids(session, unknown).keys()
            parts = {name: part for name, part in parts.items() if not part.unknown_addresses & known}
    missing = [name for name in keys if name not in parts]
    if missing and not render:
        return None
    for name in missing:
        if name == "path":
            part = _render_path(context, session, note, found, version)
        elif name == "page":
            part = _render_page(context, session, note.root_id, found, version, page)
        else:
            part = _render_summary(session, note, found, version)
        parts[name] = part
        if cache.enabled:
            cache.put(keys[name], part)
    tree = parts["page"]
    sees: frozenset[int] | None = None
    if not sees_everything(found.caller) and any(any(node.offer_ids) for node in tree.nodes):
        sees = visible_offer_ids(session, found.caller, note.root_id)
    body = _assemble(note, parts["path"], parts["summary"], tree, sees)
    return Answer(body, etag_of(body), from_cache=not missing)


def answer_of(context: AppContext, member: ApiMember, raw_id: str, page: TreePage) -> Answer:
    """The provenance answer of note `raw_id` for `member`, signed in otherwise than by API key (a
    console session): the same visibility rule (404 otherwise), parts and cache as the route's."""

    def respond(session: Session) -> Answer:
        found = read_note_of(context, session, member, raw_id)
        assert found.note is not None
        result = answer(context, session, found.note, found, page, render=True)
        assert result is not None
        return result

    return context.read(respond, snapshot=True)


def _assemble(
    note: NoteRow, path: CachedPart, summary: CachedPart, tree: CachedPart, sees: frozenset[int] | None
) -> bytes:
    """The JSON of `ProvenanceOut` from its parts, with the events of `tree` as a caller seeing the
    offers `sees` (None: all) gets them."""
    out = [
        b'{"note_id":"%d","root_id":"%d",' % (note.id, note.root_id),
        path.body,
        b',"summary":',
        summary.body,
        b',"tree":[',
    ]
    for i, node in enumerate(tree.nodes):
        if i:
            out.append(b",")
        out.append(node.head)
        first = True
        for event in node.events:
            shown = event.for_caller(sees)
            if shown is None:
                continue
            if not first:
                out.append(b",")
            out.append(shown)
            first = False
        out.append(b"]}")
    out.append(b'],"next_cursor":')
    out.append(b"null" if tree.next_cursor is None else b'"%d"' % tree.next_cursor)
    out.append(b"}")
    return b"".join(out)


def _clock(found: NoteRead, nodes: Iterable[NoteRow]) -> ClockWindow:
    now, grace = found.clock()
    return ClockWindow.around(
        now, grace, (overdue_at(n.maturity, grace) for n in nodes if n.status == NoteStatus.ACTIVE)
    )


def _render_path(
    context: AppContext, session: Session, note: NoteRow, found: NoteRead, version: TreeVersion
) -> CachedPart:
    """`"ancestors":[...],"holder_path":[...]` of `note`."""
    path = provenance.ancestors(session, note.id)
    steps = provenance.holder_path(session, note.id, path)
    addresses = (
        {n.holder for n in path}
        | {n.obligor for n in path}
        | {s.holder for s in steps}
        | {s.previous_holder for s in steps if s.previous_holder is not None}
    )
    members = context.members.find(session, addresses)
    ancestors = [note_out(n, members, found.reference, found.clock) for n in path]
    holder_path = [
        HolderStepOut(
            note_id=str(s.note_id),
            depth=s.depth,
            event=s.event,
            holder=s.holder,
            holder_name=_name(members, s.holder),
            previous_holder=s.previous_holder,
            previous_holder_name=_name(members, s.previous_holder),
            amount=str(s.amount),
            amount_display=display_amount(s.amount, note.currency),
            tx_hash=s.tx_hash,
            block_number=s.block_number,
            block_time=to_datetime(s.block_time),
        )
        for s in steps
    ]
    body = b'"ancestors":' + _NOTES.dump_json(ancestors) + b',"holder_path":' + _STEPS.dump_json(holder_path)
    return CachedPart.of(
        version=version,
        reference=found.reference,
        clock=_clock(found, path),
        unknown_addresses=addresses - members.keys(),
        root_id=note.root_id,
        body=body,
    )


def _render_page(
    context: AppContext,
    session: Session,
    root_id: int,
    found: NoteRead,
    version: TreeVersion,
    page: TreePage,
) -> CachedPart:
    """The nodes of `page` with every event, as a caller who sees everything would get them."""
    nodes = provenance.tree_page(session, root_id, page.after, page.limit + 1)
    more = len(nodes) > page.limit
    nodes = nodes[: page.limit]
    events = provenance.page_events(session, root_id, nodes)
    addresses = {n.holder for n in nodes} | {n.obligor for n in nodes}
    members = context.members.find(session, addresses)
    pieces = [
        NodePiece(
            _NOTE.dump_json(note_out(node, members, found.reference, found.clock))[:-1] + b',"events":[',
            tuple(_event_piece(e) for e in events[node.id]),
        )
        for node in nodes
    ]
    return CachedPart.of(
        version=version,
        reference=found.reference,
        clock=_clock(found, nodes),
        unknown_addresses=addresses - members.keys(),
        root_id=root_id,
        nodes=pieces,
        next_cursor=nodes[-1].id if more and nodes else None,
    )


def _event_out(e: EventRow, args: dict[str, Any]) -> bytes:
    return _EVENT.dump_json(
        EventOut(
            name=e.name,
            note_id=str(e.note_id) if e.note_id is not None else None,
            tx_hash=e.tx_hash,
            block_number=e.block_number,
            block_time=to_datetime(e.block_time),
            log_index=e.log_index,
            args=args,
        )
    )


def _name(members: dict[str, MemberRef], address: str | None) -> str | None:
    member = members.get(address) if address is not None else None
    return member.name if member is not None else None


def readable_args(args: dict[str, Any]) -> dict[str, Any]:
    """An event's arguments as the note itself shows them: a currency (bytes3 on the ledger, stored
    as 0x-hex) as its ISO 4217 code, a time (unix seconds) as a UTC datetime (ISO 8601 in JSON)."""
    readable = dict(args)
    for key in CURRENCY_ARGS & readable.keys():
        readable[key] = currency_code(readable[key])
    for key in TIME_ARGS & readable.keys():
        value = readable[key]
        if isinstance(value, int) and not isinstance(value, bool):
            readable[key] = to_datetime(value)
    return readable


def currency_code(value: Any) -> Any:
    """The ISO 4217 code a bytes3 currency in 0x-hex spells (`0x555344`: USD); `value` unchanged if
    it spells no three capital letters."""
    if not isinstance(value, str) or not value.startswith("0x"):
        return value
    try:
        text = bytes.fromhex(value[2:]).rstrip(b"\0").decode("ascii")
    except ValueError:
        return value
    return text if len(text) == 3 and text.isalpha() and text.isupper() else value


def _event_piece(e: EventRow) -> EventPiece:
    args = readable_args(dict(e.args))
    full = _event_out(e, args)
    if e.name in OFFER_EVENTS:
        return EventPiece(full, _offer_id(args), None)
    if e.name == "NoteDiscounted":
        hidden = _event_out(e, {k: v for k, v in args.items() if k not in OFFER_TERMS})
        return EventPiece(full, _offer_id(args), hidden)
    return EventPiece(full)


def _offer_id(args: dict[str, Any]) -> int:
    """The offer id an event names (-1, an id no offer has, if it names none: shown only to callers
    who see every offer)."""
    value = args.get("offerId")
    if isinstance(value, bool):
        return -1
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return -1


def _render_summary(session: Session, note: NoteRow, found: NoteRead, version: TreeVersion) -> CachedPart:
    """The summary of `note`'s tree (every note of a tree has the root's currency)."""
    root_id, currency = note.root_id, note.currency
    totals = provenance.tree_summary(session, root_id)
    summary = TreeSummaryOut(
        notes=sum(t.notes for t in totals),
        by_status=[
            StatusTotalOut(
                status=NoteStatus(t.status).name.lower(),
                notes=t.notes,
                amount=str(t.amount),
                paid_amount=str(t.paid_amount),
                written_off_amount=str(t.written_off_amount),
                amount_display=display_amount(t.amount, currency),
                paid_amount_display=display_amount(t.paid_amount, currency),
                written_off_amount_display=display_amount(t.written_off_amount, currency),
            )
            for t in totals
        ],
    )
    return CachedPart.of(
        version=version,
        reference=found.reference,
        clock=ClockWindow(found.clock()[1]),
        unknown_addresses=(),
        root_id=root_id,
        body=_SUMMARY.dump_json(summary),
    )
