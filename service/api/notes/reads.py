"""Reads of notes: GET /v1/notes (pages of what the caller may see), /v1/notes/{id}, and the
provenance tree of a note (cached parts re-validated per request, ETag / If-None-Match)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from service.api.auth import admit
from service.api.context import AppContext
from service.api.csv_export import model_csv_response, wants_csv
from service.api.deps import (
    BearerKey,
    Context,
    CurrentMember,
)
from service.api.members.queries import resolve_party
from service.api.notes import provenance as provenance_answer
from service.api.notes.provenance import DEFAULT_TREE_LIMIT, MAX_TREE_LIMIT, TreePage, answer
from service.api.notes.provenance_csv import provenance_csv
from service.api.notes.queries import (
    NoteFilter,
    NoteRead,
    find_notes,
    is_note_id,
    note_not_found,
    note_out,
    read_note,
)
from service.api.notes.schemas import (
    NoteOut,
    NotePage,
    ProvenanceOut,
)
from service.api.params import LedgerId
from service.api.problems import ProblemError
from service.db.provenance import NoteRow
from service.domain import NoteStatus

router = APIRouter(prefix="/v1/notes", tags=["notes"])

MAX_PAGE = 200


_STATUSES = {s.name.lower(): s for s in NoteStatus if s is not NoteStatus.NONE}


Format = Annotated[str | None, Query(alias="format", description="json (default) or csv")]
Accept = Annotated[str | None, Header()]
Reference = Annotated[
    str | None,
    Query(max_length=1000, description="the reference (invoice number) the root was issued with, exactly"),
]
MaturityFrom = Annotated[
    datetime | None, Query(description="maturity at or after (inclusive); a date is its midnight UTC")
]
MaturityTo = Annotated[
    datetime | None, Query(description="maturity before (exclusive); a date is its midnight UTC")
]
UpdatedSince = Annotated[
    datetime | None,
    Query(description="notes whose last indexed change is in a block of this time or later (inclusive)"),
]


def _status(name: str) -> NoteStatus:
    if name not in _STATUSES:
        raise ProblemError(
            422, "invalid-request", "The request is not valid", f"status must be one of {sorted(_STATUSES)}"
        )
    return _STATUSES[name]


def _utc_unix(moment: datetime) -> int:
    """Seconds since the epoch of `moment` (UTC if it names no offset)."""
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


@router.get(
    "",
    response_model=NotePage,
    responses={200: {"content": {"text/csv": {}}, "description": "the notes (CSV: one row per note)"}},
)
def list_notes(
    request: Request,
    context: Context,
    member: CurrentMember,
    holder: str | None = None,
    obligor: str | None = None,
    status: str | None = Query(default=None, description="pending, active, split, rejected or revoked"),
    root: LedgerId | None = None,
    reference: Reference = None,
    maturity_from: MaturityFrom = None,
    maturity_to: MaturityTo = None,
    updated_since: UpdatedSince = None,
    cursor: Annotated[LedgerId | None, Query(description="next_cursor of the previous page")] = None,
    limit: int = Query(default=50, ge=1, le=MAX_PAGE),
    fmt: Format = None,
    accept: Accept = None,
) -> NotePage | Response:
    """Notes the caller may see, by id, `limit` at a time. JSON, or CSV with `?format=csv` or
    `Accept: text/csv` (one row per note, the columns of a note; the next page's URL in a `Link`
    header with `rel="next"`). Times without an offset are UTC."""
    as_csv = wants_csv(fmt, accept)
    start = _utc_unix(maturity_from) if maturity_from is not None else None
    end = _utc_unix(maturity_to) if maturity_to is not None else None
    if start is not None and end is not None and start > end:
        raise ProblemError(
            422, "invalid-request", "The request is not valid", "maturity_from is after maturity_to"
        )
    with context.session() as session:
        wanted = NoteFilter(
            holder=resolve_party(session, holder, "holder") if holder is not None else None,
            obligor=resolve_party(session, obligor, "obligor") if obligor is not None else None,
            statuses=(int(_status(status)),) if status is not None else None,
            root=root,
            reference=reference,
            maturity_from=start,
            maturity_to=end,
            updated_since=_utc_unix(updated_since) if updated_since is not None else None,
        )
        items, next_cursor = find_notes(context, session, member, wanted, limit=limit, cursor=cursor)
        page = NotePage(items=items, next_cursor=next_cursor)
    if not as_csv:
        return page
    return model_csv_response(NoteOut, page.items, "notes", headers=_next_link(request, page.next_cursor))


def _next_link(request: Request, next_cursor: str | None) -> dict[str, str]:
    """A `Link` header to the next page (the same query, `cursor` set), if there is one."""
    if next_cursor is None:
        return {}
    url = request.url.include_query_params(cursor=next_cursor)
    return {"Link": f'<{url.path}?{url.query}>; rel="next"'}


def _json(answer: BaseModel) -> Response:
    """`answer` serialised once by pydantic (the route's response_model documents it)."""
    return Response(answer.model_dump_json(), media_type="application/json")


def _read_visible(
    request: Request, context: AppContext, session: Session, key: str, note_id: str
) -> tuple[NoteRow, NoteRead]:
    """The note (and what came with it), if the key's member may see it (401, 404 otherwise); the
    member goes into the request state for the access log."""
    found = read_note(context, session, key, note_id)
    admit(request, found.caller.id, found.caller.suspended)
    if found.note is None:
        raise note_not_found(note_id)
    return found.note, found


@router.get("/{note_id}", response_model=NoteOut)
def get_note(note_id: str, request: Request, context: Context, key: BearerKey) -> Response:
    """One note the caller may see."""

    def read(session: Session) -> NoteOut:
        note, found = _read_visible(request, context, session, key, note_id)
        reference, clock = found.reference, found.clock
        members = context.members.find(session, (note.holder, note.obligor))
        return note_out(note, members, reference, clock)

    return _json(context.read(read))


IfNoneMatch = Annotated[str | None, Header(alias="If-None-Match")]


@router.get(
    "/{note_id}/provenance",
    response_model=ProvenanceOut,
    responses={
        200: {"content": {"text/csv": {}}, "description": "the provenance (CSV: one row per event)"},
        304: {"description": "Not modified: the If-None-Match header names the current ETag"},
    },
)
def get_provenance(
    note_id: str,
    request: Request,
    context: Context,
    key: BearerKey,
    if_none_match: IfNoneMatch = None,
    fmt: Format = None,
    accept: Accept = None,
    cursor: str | None = Query(
        default=None, description="next_cursor of the previous answer: the tree's next page"
    ),
    limit: int = Query(
        default=DEFAULT_TREE_LIMIT, ge=1, le=MAX_TREE_LIMIT, description="nodes of the tree in one answer"
    ),
) -> Response:
    """Ancestors to the root and the path of holders, a summary of the root's whole tree (notes and
    amounts by status), and the tree's nodes with their events, `limit` at a time in id order (the
    whole tree unless `next_cursor` is set). Events of discount offers appear only to callers who may
    see the offer (its financier, the holder it was made to, the auditor and the operator).

    The answer carries an `ETag`; a request whose `If-None-Match` names it gets 304 without a body.
    Whether the caller may see the note is checked on every request.

    CSV with `?format=csv` or `Accept: text/csv`: one row per event of the page's nodes in chain
    order, with the note it concerns (its state now) and the event's arguments as JSON; the next
    page's URL in a `Link` header with `rel="next"`."""
    as_csv = wants_csv(fmt, accept)
    if cursor is not None and (not is_note_id(cursor)):
        raise ProblemError(422, "invalid-request", "The request is not valid", "cursor must be a note id")
    page = TreePage(int(cursor) if cursor is not None else -1, limit)

    def respond(session: Session, render: bool) -> provenance_answer.Answer | None:
        note, found = _read_visible(request, context, session, key, note_id)
        return answer(context, session, note, found, page, render=render)

    cache = context.provenance
    known = cache.enabled and is_note_id(note_id) and cache.get(("path", int(note_id))) is not None
    result = context.read(lambda session: respond(session, False)) if known else None
    if result is None:
        result = context.read(lambda session: respond(session, True), snapshot=True)
    assert result is not None
    if cache.enabled:
        context.metrics.provenance_cache.labels(result="hit" if result.from_cache else "miss").inc()
    etag = result.etag[:-1] + '-csv"' if as_csv else result.etag  # one ETag per representation
    headers = {"ETag": etag, "Cache-Control": "private, no-cache", "Vary": "Accept"}
    if if_none_match is not None and _names_etag(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    if as_csv:
        tree = json.loads(result.body)
        return provenance_csv(tree, note_id, {**headers, **_next_link(request, tree.get("next_cursor"))})
    return Response(result.body, media_type="application/json", headers=headers)


def _names_etag(if_none_match: str, etag: str) -> bool:
    """Whether an If-None-Match value matches `etag` (weak comparison, RFC 9110 13.1.2)."""
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))
