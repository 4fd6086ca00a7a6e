"""The provenance graph of a note: the whole tree of its root as an interactive picture (d3's tree
layout, drawn by `static/provenance.js` from this area's JSON) and the same data as a table, for
any member that may see the note (the API's provenance visibility rule: the 404 page otherwise)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from service.api.notes.queries import parse_note_id
from service.console.i18n import Translator
from service.console.provenance.tree import ProvenanceTree, provenance_tree
from service.console.web import ConsoleContext, User, console_router, render, secure, translator

router = console_router("/provenance")
COLLAPSE_ABOVE = 300
"""A tree with more holdings than this is drawn with its deep levels collapsed."""
COLLAPSED_DEPTH = 4
"""The deepest level drawn open in a collapsed tree (each collapsed node opens on request)."""

STATUSES = (
    "pending",
    "active",
    "overdue",
    "split",
    "transferred",
    "settled",
    "rejected",
    "revoked",
    "written_off",
)
"""A holding's states, in the legend's order."""
SCRIPT_TEXTS = {
    "holder": "holder",
    "amount": "amount",
    "status": "status",
    "note": "note",
    "events": "graph_events",
    "event": "graph_event",
    "tx": "transaction",
    "block": "block",
    "time": "graph_block_time",
    "path": "graph_path",
    "open_note": "graph_open_note",
    "expand": "graph_expand",
    "collapse": "graph_collapse",
    "hidden": "graph_hidden",
    "edge_split": "graph_edge_split",
    "edge_transfer": "graph_edge_transfer",
    "edge_root": "graph_edge_root",
    "picture": "graph_picture",
    "leaf": "graph_leaf",
}
"""The texts the graph's script shows (its key: the message's key), in the page's language."""


def graph_text(t: Translator) -> dict[str, object]:
    texts: dict[str, object] = {key: t(message) for key, message in SCRIPT_TEXTS.items()}
    texts["statuses"] = {status: t(f"status_{status}") for status in STATUSES}
    return texts


@router.get("")
def find_page(
    request: Request, user: User, note: Annotated[str | None, Query(max_length=80)] = None
) -> Response:
    """A note id to open (the search page and each note's page link here too)."""
    if note:
        parse_note_id(note.strip())  # the 404 page for what is not a note id
        return RedirectResponse(f"/console/provenance/{note.strip()}", status_code=303)
    return render(request, "provenance/find.html", user)


def _table_values(t: Translator, tree: ProvenanceTree) -> dict[str, Any]:
    """What the table of holdings shows (`provenance/_table.html`)."""
    return {
        "tree": tree,
        "on_path": set(tree.path),
        "status_names": {status: t(f"status_{status}") for status in STATUSES},
        "edge_names": {edge: t(f"graph_edge_{edge}") for edge in ("split", "transfer", "root")},
    }


@router.get("/{note_id}")
def graph_page(request: Request, note_id: str, context: ConsoleContext, user: User) -> Response:
    """The picture; the table beside it for a small tree, on its own page for a big one (thousands
    of rows make the picture's page slow to load and are read better alone)."""
    tree = provenance_tree(context, user.member, note_id)
    big = len(tree.holdings) > COLLAPSE_ABOVE
    t = translator(request)
    return render(
        request,
        "provenance/graph.html",
        user,
        **_table_values(t, tree),
        inline_table=not big,
        collapse_depth=COLLAPSED_DEPTH if big else -1,
        statuses=STATUSES,
        graph_text=graph_text(t),
        graph_data=Markup(tree.script_json()),  # escaped for a script element: safe
    )


@router.get("/{note_id}/table")
def table_page(request: Request, note_id: str, context: ConsoleContext, user: User) -> Response:
    """The tree as a table alone (every holding; the accessible view of a big tree)."""
    tree = provenance_tree(context, user.member, note_id)
    return render(request, "provenance/table.html", user, **_table_values(translator(request), tree))


@router.get("/{note_id}/tree.json")
def graph_data(note_id: str, context: ConsoleContext, user: User) -> Response:
    """The graph's data: holdings (id, parent, edge, holder, amount, status, size, leaf), the path
    to the asked note and each note's events."""
    tree = provenance_tree(context, user.member, note_id)
    response = Response(tree.as_json(), media_type="application/json")
    secure(response)
    return response
