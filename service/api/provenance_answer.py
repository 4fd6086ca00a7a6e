"""The answer of GET /v1/notes/{id}/provenance: rendered from SQL, or taken from the gateway's
`ProvenanceCache` when it is still the answer (see `service.api.provenance_cache`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.api.context import AppContext
from service.api.provenance_cache import CachedProvenance, ClockWindow
from service.api.queries import NoteRead, note_fields, note_out, to_datetime
from service.api.schemas import EventOut, HolderStepOut, ProvenanceOut, TreeNodeOut
from service.db import provenance
from service.db.provenance import NoteRow, TreeVersion
from service.domain import NoteStatus

NO_EVENTS = TreeVersion(-1, -1, "")
"""The version of a tree with no event in the index (not seen in practice: a note comes with its
NoteIssued or NoteSplit event)."""


def still_the_answer(
    context: AppContext, session: Session, entry: CachedProvenance, note: NoteRow, found: NoteRead
) -> bool:
    """Whether `entry`, cached for `note`, is still its answer now: same tree version, reference,
    grace period and overdue window, and no address it lacked a member id for has one now. Two
    statements at most (the tree version; the member directory only if the answer lacked ids)."""
    version = provenance.tree_version(session, note.root_id) or NO_EVENTS
    now, grace = found.clock()
    if not entry.matches(version, found.reference, now, grace):
        return False
    return not (entry.unknown_addresses and context.members.ids(session, entry.unknown_addresses))


def render_answer(context: AppContext, session: Session, note: NoteRow, found: NoteRead) -> CachedProvenance:
    """Ancestors, the whole tree with every node's events and the holder path of `note`, rendered
    from SQL, with what the answer depends on. The tree version is read first: if the tree changes
    during the read (possible only without a snapshot, on SQLite), the answer is newer than its
    version and the next request renders it again."""
    version = provenance.tree_version(session, note.root_id) or NO_EVENTS
    reference, clock = found.reference, found.clock
    whole = provenance.tree_with_events(session, note.root_id)
    path = _path_to(whole.nodes, note.id)
    if path is None:  # not on a snapshot (SQLite) and the tree changed under the read
        path = provenance.ancestors(session, note.id)
    steps = provenance.holder_path(session, note.id)
    addresses = {n.holder for n in whole.nodes} | {note.obligor} | {n.holder for n in path}
    ids = context.members.ids(session, addresses)
    answer = ProvenanceOut(
        note_id=str(note.id),
        root_id=str(note.root_id),
        ancestors=[note_out(n, ids, reference, clock) for n in path],
        tree=[
            TreeNodeOut(
                **note_fields(node, ids, reference, clock),
                events=[
                    EventOut(
                        name=e.name,
                        note_id=str(e.note_id) if e.note_id is not None else None,
                        tx_hash=e.tx_hash,
                        block_number=e.block_number,
                        block_time=to_datetime(e.block_time),
                        log_index=e.log_index,
                        args=dict(e.args),
                    )
                    for e in whole.events.get(node.id, [])
                ],
            )
            for node in whole.nodes
        ],
        holder_path=[
            HolderStepOut(
                note_id=str(s.note_id),
                depth=s.depth,
                event=s.event,
                holder=s.holder,
                previous_holder=s.previous_holder,
                amount=str(s.amount),
                tx_hash=s.tx_hash,
                block_number=s.block_number,
                block_time=to_datetime(s.block_time),
            )
            for s in steps
        ],
    )
    now, grace = clock()
    active = [n for n in (*whole.nodes, *path) if n.status == NoteStatus.ACTIVE]
    return CachedProvenance.of(
        answer.model_dump_json().encode(),
        version=version,
        reference=reference,
        clock=ClockWindow.around(now, grace, (n.maturity + grace for n in active)),
        unknown_addresses=addresses - ids.keys(),
    )


def _path_to(nodes: list[NoteRow], note_id: int) -> list[NoteRow] | None:
    """The ancestors of `note_id` (root first, the note last) found among the nodes of its tree;
    None if the note or a parent is missing there."""
    by_id = {node.id: node for node in nodes}
    node = by_id.get(note_id)
    path: list[NoteRow] = []
    while node is not None:
        path.append(node)
        if node.parent_id is None:
            return path[::-1]
        parent = by_id.get(node.parent_id)
        if parent is None or parent.depth >= node.depth:
            return None
        node = parent
    return None
