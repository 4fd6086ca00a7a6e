"""Search for the auditor and the operator: a note (by id or reference), a member (by id, name or
address) or a transaction (by hash), through the notes, members and transactions queries with the
API's visibility. B's provenance graph links from here."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import Response

from service.api.auth import require_role
from service.api.context import AppContext
from service.api.members.schemas import MemberOut
from service.api.members.service import list_members
from service.api.notes.queries import NoteFilter, find_notes, is_note_id
from service.api.notes.schemas import NoteOut
from service.api.problems import ProblemError
from service.api.transactions.queries import transaction_fate
from service.api.transactions.schemas import TransactionOut
from service.console.sessions import SessionUser
from service.console.web import ConsoleContext, User, console_router, render
from service.domain import AUDITOR, OPERATOR

router = console_router()
TX_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")
LIMIT = 50


def search(
    context: AppContext, user: SessionUser, q: str
) -> tuple[list[NoteOut], list[MemberOut], TransactionOut | None]:
    notes: list[NoteOut] = []
    members: list[MemberOut] = []
    transaction = None
    if TX_HASH.match(q):
        try:
            transaction = transaction_fate(context, user.member, q)
        except ProblemError:
            transaction = None
    with context.session() as session:
        if is_note_id(q):
            notes, _n = find_notes(
                context, session, user.member, NoteFilter(root=None), limit=1, cursor=int(q) - 1
            )
            notes = [n for n in notes if n.id == q]
        else:
            notes, _n = find_notes(context, session, user.member, NoteFilter(reference=q), limit=LIMIT)
    wanted = q.lower()
    members = [
        m
        for m in list_members(context).items
        if wanted in m.id.lower() or wanted in m.name.lower() or wanted == m.address.lower()
    ]
    return notes, members, transaction


@router.get("/search")
def search_page(
    request: Request,
    context: ConsoleContext,
    user: User,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    require_role(user.member, AUDITOR, OPERATOR)
    query = (q or "").strip()
    notes, members, transaction = search(context, user, query) if query else ([], [], None)
    return render(
        request, "search/search.html", user, q=query, notes=notes, members=members, transaction=transaction
    )
