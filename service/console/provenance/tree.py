"""A note's provenance tree as the console draws it: the API's provenance answer (every page of the
root's tree, `service.api.notes.provenance.answer_of`: the same visibility rule and cache as
GET /v1/notes/{id}/provenance) turned into holdings.

A holding is one holder's time with one note: a note issued to A and transferred (or sold) to B is
two holdings, A's and B's, joined by a transfer edge; the parts of a split hang from the last
holding of the split note by split edges. So every split and every transfer is an edge of the
graph, and the root's first holding is the root of the picture."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Final

from service.api.context import AppContext
from service.api.notes.provenance import MAX_TREE_LIMIT, TreePage, answer_of
from service.api.notes.queries import PASSED_ON_EVENTS
from service.db.gateway_models import ApiMember

MAX_NODES: Final = 20_000
"""The most notes of one tree the console loads (a tree this big is not one to read as a picture)."""
SIZES: Final = 5
"""Node sizes: a holding's amount in fifths of the root's amount, rounded up (1 to 5)."""
TRANSFERRED: Final = "transferred"
"""The state of a holding that ended by a transfer or sale (the note lives on with the next holder)."""


@dataclass(frozen=True)
class EventView:
    name: str
    tx_hash: str
    block_number: int
    block_time: str


@dataclass(frozen=True)
class Holding:
    id: str
    note_id: str
    parent: str | None
    edge: str | None
    """How this holding came from its parent: split or transfer (None: the root)."""
    depth: int
    holder: str
    holder_name: str
    amount: str
    amount_display: str
    status: str
    size: int
    leaf: bool
    """The holding of a note that was not split (its last holder's)."""


@dataclass
class ProvenanceTree:
    note_id: str
    root_id: str
    currency: str
    path: list[str]
    """Holding ids from the root to the asked note's current holding."""
    holdings: list[Holding]
    events: dict[str, list[EventView]]
    by_status: list[dict[str, Any]]
    notes: int
    truncated: bool

    def as_json(self) -> bytes:
        return json.dumps(
            {
                "note_id": self.note_id,
                "root_id": self.root_id,
                "currency": self.currency,
                "path": self.path,
                "truncated": self.truncated,
                "nodes": [asdict(h) for h in self.holdings],
                "events": {k: [asdict(e) for e in v] for k, v in self.events.items()},
            },
            separators=(",", ":"),
        ).encode()

    def script_json(self) -> str:
        """`as_json` for a `<script type="application/json">` element of a page: `<`, `>` and `&`
        escaped (as Jinja's `tojson` does), so no text of the tree can end the element."""
        text = self.as_json().decode()
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _pages(context: AppContext, member: ApiMember, note_id: str) -> tuple[dict[str, Any], list[Any], bool]:
    """The first answer and every node of the tree (at most MAX_NODES), and whether it stopped short."""
    first: dict[str, Any] | None = None
    nodes: list[Any] = []
    after = -1
    while True:
        page = json.loads(answer_of(context, member, note_id, TreePage(after, MAX_TREE_LIMIT)).body)
        first = first or page
        nodes.extend(page["tree"])
        cursor = page.get("next_cursor")
        if cursor is None:
            return first, nodes, False
        if len(nodes) >= MAX_NODES:
            return first, nodes, True
        after = int(cursor)


def _size(amount: int, root_amount: int) -> int:
    if root_amount <= 0:
        return 1
    return max(1, min(SIZES, -(-amount * SIZES // root_amount)))


def _holders(node: dict[str, Any]) -> list[str]:
    """The note's holders in turn: the first, then each one it was transferred or sold to."""
    passes = [e for e in node["events"] if e["name"] in PASSED_ON_EVENTS]
    if not passes:
        return [str(node["holder"])]
    return [str(passes[0]["args"].get("from", node["holder"]))] + [
        str(e["args"].get("to", node["holder"])) for e in passes
    ]


def _names(context: AppContext, addresses: set[str]) -> dict[str, str]:
    with context.session() as session:
        found = context.members.find(session, addresses)
    return {address: ref.name for address, ref in found.items()}


def provenance_tree(context: AppContext, member: ApiMember, note_id: str) -> ProvenanceTree:
    """The tree of note `note_id` (any note of it) as holdings, if `member` may see the note (404
    problem otherwise)."""
    first, nodes, truncated = _pages(context, member, note_id)
    split_parents = {node["parent_id"] for node in nodes if node["parent_id"] is not None}
    root_amount = int(nodes[0]["amount"]) if nodes else 0
    last_holding: dict[str, str] = {}
    depth_of: dict[str, int] = {}
    holdings: list[Holding] = []
    events: dict[str, list[EventView]] = {}
    holders_of = {node["id"]: _holders(node) for node in nodes}
    names = _names(context, {a for holders in holders_of.values() for a in holders})
    for node in nodes:
        nid = node["id"]
        events[nid] = [
            EventView(e["name"], e["tx_hash"], int(e["block_number"]), str(e["block_time"]))
            for e in node["events"]
        ]
        holders = holders_of[nid]
        parent = last_holding.get(node["parent_id"]) if node["parent_id"] is not None else None
        edge = "split" if parent is not None else None
        depth = depth_of[parent] + 1 if parent is not None else 0
        amount, size = str(node["amount"]), _size(int(node["amount"]), root_amount)
        for k, holder in enumerate(holders):
            hid = f"{nid}.{k}"
            final = k == len(holders) - 1
            holdings.append(
                Holding(
                    id=hid,
                    note_id=nid,
                    parent=parent,
                    edge=edge,
                    depth=depth,
                    holder=holder,
                    holder_name=names.get(holder, holder),
                    amount=amount,
                    amount_display=node["amount_display"],
                    status=node["status"] if final else TRANSFERRED,
                    size=size,
                    leaf=final and nid not in split_parents,
                )
            )
            depth_of[hid] = depth
            parent, edge, depth = hid, "transfer", depth + 1
        last_holding[nid] = f"{nid}.{len(holders) - 1}"
    by_id = {h.id: h for h in holdings}
    path: list[str] = []
    cursor: str | None = last_holding.get(str(first["note_id"]))
    while cursor is not None:
        path.append(cursor)
        cursor = by_id[cursor].parent
    summary = first["summary"]
    return ProvenanceTree(
        note_id=str(first["note_id"]),
        root_id=str(first["root_id"]),
        currency=nodes[0]["currency"] if nodes else "USD",
        path=path[::-1],
        holdings=holdings,
        events=events,
        by_status=summary["by_status"],
        notes=int(summary["notes"]),
        truncated=truncated,
    )
