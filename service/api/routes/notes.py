"""/v1/notes: issue, answer, move and freeze notes (ledger writes); list, read and trace them (SQL)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.api.auth import (
    CORE_ENTERPRISE,
    OPERATOR,
    BearerKey,
    Context,
    CurrentMember,
    require_role,
    role_dependency,
)
from service.api.context import AppContext
from service.api.financing_queries import min_part_amount
from service.api.idempotency import run_idempotent
from service.api.problems import ProblemError, revert_problem
from service.api.provenance_answer import render_answer, still_the_answer
from service.api.provenance_cache import CachedProvenance
from service.api.queries import (
    NoteRead,
    is_note_id,
    member_status,
    note_not_found,
    note_out,
    notes_out,
    parse_note_id,
    read_note,
    require_active_member,
    resolve_party,
    to_datetime,
    visibility,
    visible_note,
)
from service.api.schemas import (
    Empty,
    NoteFreeze,
    NoteIssue,
    NoteOut,
    NotePage,
    NoteSplitIn,
    NoteTransfer,
    ProvenanceOut,
    WriteResult,
)
from service.api.writes import note_result, send
from service.db.gateway_models import ApiMember, NoteReference
from service.db.models import LedgerConfig, Note, ObligorCredit
from service.db.provenance import NoteRow
from service.domain import MemberStatus, NoteStatus, Role
from service.ledger.client import SplitPart

router = APIRouter(prefix="/v1/notes", tags=["notes"])
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]
Obligor = Annotated[ApiMember, Depends(role_dependency(CORE_ENTERPRISE))]
Operator = Annotated[ApiMember, Depends(role_dependency(OPERATOR))]
MAX_PAGE = 200
HOLDER_ROLES = Role.SUPPLIER | Role.FINANCIER
DEFAULT_MAX_TENOR = 365 * 86_400


def _acting_member_active(session: Session, member: ApiMember) -> None:
    if member_status(session, member.address) is MemberStatus.SUSPENDED:
        raise revert_problem("MemberNotActive", f"{member.id} is suspended")


def _chain_now(context: AppContext) -> int:
    with context.write_lock():
        return context.chain.now()


# ------------------------------------------------------------------ issue
@router.post("", status_code=201, response_model=WriteResult)
def issue(
    body: NoteIssue,
    request: Request,
    context: Context,
    member: Obligor,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Issue a pending root note to a supplier, within the obligor's credit limit."""

    def action() -> tuple[int, WriteResult]:
        maturity = body.maturity_unix()
        with context.session() as session:
            _acting_member_active(session, member)
            to = resolve_party(session, body.to, "to")
            if to == member.address:
                raise revert_problem("SelfDealing", "an obligor cannot issue a note to itself", field="to")
            require_active_member(session, to, "to", HOLDER_ROLES)
            minimum = min_part_amount(session, body.currency)
            if body.amount < minimum:
                raise revert_problem(
                    "AmountBelowMinimum",
                    f"{body.amount} is below the minimum part amount of {body.currency}, {minimum}",
                    field="amount",
                    minimum=str(minimum),
                )
            now = _chain_now(context)
            config = session.get(LedgerConfig, context.ledger.address)
            max_tenor = config.max_tenor if config is not None else DEFAULT_MAX_TENOR
            if not now < maturity <= now + max_tenor:
                raise revert_problem(
                    "InvalidMaturity",
                    f"maturity must be after {to_datetime(now).isoformat()} and at most "
                    f"{max_tenor // 86_400} days later",
                    field="maturity",
                )
            credit = session.get(ObligorCredit, member.address)
            limit, outstanding = (credit.credit_limit, credit.outstanding) if credit else (0, 0)
            if outstanding + body.amount > limit:
                raise revert_problem(
                    "CreditLimitExceeded",
                    f"outstanding {outstanding} + {body.amount} exceeds the credit limit {limit}",
                    credit_limit=str(limit),
                    outstanding=str(outstanding),
                )
            doc = body.document_hash.lower()
            used = session.scalars(
                select(Note.id).where(
                    Note.document_hash == doc,
                    Note.parent_id.is_(None),
                    Note.status.in_([NoteStatus.PENDING, NoteStatus.ACTIVE, NoteStatus.SPLIT]),
                )
            ).first()
            if used is not None:
                raise revert_problem("DocumentAlreadyUsed", f"the document already backs note {used}")
        result, indexed = send(
            context,
            member,
            lambda account: context.ledger.issue(
                account, to, body.amount, body.currency, maturity, bytes.fromhex(doc[2:])
            ),
        )
        note_ids = result.created_note_ids()
        if body.reference:
            with context.session() as session:
                session.add(
                    NoteReference(note_id=note_ids[0], reference=body.reference, created_by=member.id)
                )
                session.commit()
        return 201, note_result(context, result, indexed, note_ids)

    return run_idempotent(context, member, idempotency_key, "POST", request.url.path, body, action)


# ------------------------------------------------------------------ actions on one note
def _load(context: AppContext, member: ApiMember, raw_id: str) -> Note:
    note_id = parse_note_id(raw_id)
    with context.session() as session:
        _acting_member_active(session, member)
        return visible_note(session, member, note_id)


def _check_holder(note: Note, member: ApiMember) -> None:
    if note.holder != member.address:
        raise revert_problem("NotHolder", f"{member.id} does not hold note {note.id}")


def _check_status(note: Note, wanted: NoteStatus) -> None:
    if note.status != wanted:
        name = {NoteStatus.PENDING: "NoteNotPending", NoteStatus.ACTIVE: "NoteNotActive"}[wanted]
        raise revert_problem(name, f"note {note.id} is {NoteStatus(note.status).name.lower()}")


def _check_movable(context: AppContext, note: Note) -> None:
    if note.frozen:
        raise revert_problem("NoteIsFrozen", f"note {note.id} is frozen")
    # a chain time up to a second old is early enough here: if the note matured since, the ledger
    # refuses the transaction when it is estimated, with the same problem
    if context.chain_time(max_age=1.0) >= note.maturity:
        raise revert_problem(
            "NoteMatured", f"note {note.id} matured at {to_datetime(note.maturity).isoformat()}"
        )


def _answer(
    raw_id: str,
    request: Request,
    context: AppContext,
    member: ApiMember,
    idempotency_key: str | None,
    check: str,
) -> JSONResponse:
    def action() -> tuple[int, WriteResult]:
        note = _load(context, member, raw_id)
        if check == "revoke":
            if note.obligor != member.address:
                raise revert_problem("NotObligor", f"{member.id} is not the obligor of note {note.id}")
        else:
            _check_holder(note, member)
        _check_status(note, NoteStatus.PENDING)
        if note.frozen:
            raise revert_problem("NoteIsFrozen", f"note {note.id} is frozen")
        fn = {
            "accept": context.ledger.accept,
            "reject": context.ledger.reject,
            "revoke": context.ledger.revoke,
        }[check]
        result, indexed = send(context, member, lambda account: fn(account, note.id))
        return 200, note_result(context, result, indexed, [note.id])

    return run_idempotent(context, member, idempotency_key, "POST", request.url.path, None, action)


@router.post("/{note_id}/accept", response_model=WriteResult)
def accept(
    note_id: str,
    request: Request,
    context: Context,
    member: CurrentMember,
    idempotency_key: IdempotencyKey = None,
    body: Empty | None = None,
) -> JSONResponse:
    """The named holder accepts a pending note."""
    return _answer(note_id, request, context, member, idempotency_key, "accept")


@router.post("/{note_id}/reject", response_model=WriteResult)
def reject(
    note_id: str,
    request: Request,
    context: Context,
    member: CurrentMember,
    idempotency_key: IdempotencyKey = None,
    body: Empty | None = None,
) -> JSONResponse:
    """The named holder rejects a pending note."""
    return _answer(note_id, request, context, member, idempotency_key, "reject")


@router.post("/{note_id}/revoke", response_model=WriteResult)
def revoke(
    note_id: str,
    request: Request,
    context: Context,
    member: CurrentMember,
    idempotency_key: IdempotencyKey = None,
    body: Empty | None = None,
) -> JSONResponse:
    """The obligor withdraws a pending note."""
    require_role(member, CORE_ENTERPRISE)
    return _answer(note_id, request, context, member, idempotency_key, "revoke")


@router.post("/{note_id}/transfer", response_model=WriteResult)
def transfer(
    note_id: str,
    body: NoteTransfer,
    request: Request,
    context: Context,
    member: CurrentMember,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """The holder passes the whole note to another member."""

    def action() -> tuple[int, WriteResult]:
        note = _load(context, member, note_id)
        _check_holder(note, member)
        _check_status(note, NoteStatus.ACTIVE)
        _check_movable(context, note)
        with context.session() as session:
            to = resolve_party(session, body.to, "to")
            require_active_member(session, to, "to", HOLDER_ROLES)
        if to == member.address:
            raise revert_problem("SelfDealing", "a note cannot be transferred to its holder", field="to")
        result, indexed = send(context, member, lambda account: context.ledger.transfer(account, note.id, to))
        return 200, note_result(context, result, indexed, [note.id])

    return run_idempotent(context, member, idempotency_key, "POST", request.url.path, body, action)


@router.post("/{note_id}/split", response_model=WriteResult)
def split(
    note_id: str,
    body: NoteSplitIn,
    request: Request,
    context: Context,
    member: CurrentMember,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """The holder splits a note into parts whose amounts sum to the note's."""

    def action() -> tuple[int, WriteResult]:
        note = _load(context, member, note_id)
        _check_holder(note, member)
        _check_status(note, NoteStatus.ACTIVE)
        _check_movable(context, note)
        with context.session() as session:
            minimum = min_part_amount(session, note.currency)
        for i, part in enumerate(body.parts):
            if part.amount < minimum:
                raise revert_problem(
                    "AmountBelowMinimum",
                    f"part {i} of {part.amount} is below the {note.currency} minimum part amount {minimum}",
                    field=f"parts.{i}.amount",
                    part_index=i,
                    minimum=str(minimum),
                )
        total = sum(part.amount for part in body.parts)
        if total != note.amount:
            raise revert_problem(
                "AmountsDoNotSum",
                f"the parts sum to {total}, the note is {note.amount}",
                expected=str(note.amount),
                actual=str(total),
            )
        parts = []
        with context.session() as session:
            for i, part in enumerate(body.parts):
                field = f"parts.{i}.to"
                to = resolve_party(session, part.to, field)
                require_active_member(session, to, field, HOLDER_ROLES)
                parts.append(SplitPart(to=to, amount=part.amount))
        result, indexed = send(context, member, lambda account: context.ledger.split(account, note.id, parts))
        return 200, note_result(context, result, indexed, result.created_note_ids())

    return run_idempotent(context, member, idempotency_key, "POST", request.url.path, body, action)


@router.post("/{note_id}/freeze", response_model=WriteResult)
def freeze(
    note_id: str,
    request: Request,
    context: Context,
    member: Operator,
    body: NoteFreeze | None = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """The operator freezes a note (dispute, court order)."""
    reason = (body or NoteFreeze()).reason

    def action() -> tuple[int, WriteResult]:
        note = _load(context, member, note_id)
        if note.frozen:
            raise revert_problem("NoteIsFrozen", f"note {note.id} is already frozen")
        if not NoteStatus(note.status).is_live:
            raise revert_problem("NoteNotLive", f"note {note.id} is {NoteStatus(note.status).name.lower()}")
        result, indexed = send(
            context, member, lambda account: context.ledger.freeze(account, note.id, reason.encode())
        )
        return 200, note_result(context, result, indexed, [note.id])

    return run_idempotent(context, member, idempotency_key, "POST", request.url.path, body, action)


@router.post("/{note_id}/unfreeze", response_model=WriteResult)
def unfreeze(
    note_id: str,
    request: Request,
    context: Context,
    member: Operator,
    idempotency_key: IdempotencyKey = None,
    body: Empty | None = None,
) -> JSONResponse:
    """The operator lifts a freeze."""

    def action() -> tuple[int, WriteResult]:
        note = _load(context, member, note_id)
        if not note.frozen:
            raise revert_problem("NoteNotFrozen", f"note {note.id} is not frozen")
        result, indexed = send(context, member, lambda account: context.ledger.unfreeze(account, note.id))
        return 200, note_result(context, result, indexed, [note.id])

    return run_idempotent(context, member, idempotency_key, "POST", request.url.path, None, action)


# ------------------------------------------------------------------ reads
_STATUSES = {s.name.lower(): s for s in NoteStatus if s is not NoteStatus.NONE}


@router.get("", response_model=NotePage)
def list_notes(
    context: Context,
    member: CurrentMember,
    holder: str | None = None,
    obligor: str | None = None,
    status: str | None = Query(default=None, description="pending, active, split, rejected or revoked"),
    root: str | None = None,
    cursor: str | None = Query(default=None, description="next_cursor of the previous page"),
    limit: int = Query(default=50, ge=1, le=MAX_PAGE),
) -> NotePage:
    """Notes the caller may see, by id, `limit` at a time."""
    stmt = select(Note).order_by(Note.id).limit(limit + 1)
    with context.session() as session:
        if holder is not None:
            stmt = stmt.where(Note.holder == resolve_party(session, holder, "holder"))
        if obligor is not None:
            stmt = stmt.where(Note.obligor == resolve_party(session, obligor, "obligor"))
        if status is not None:
            if status not in _STATUSES:
                raise ProblemError(
                    422,
                    "invalid-request",
                    "The request is not valid",
                    f"status must be one of {sorted(_STATUSES)}",
                )
            stmt = stmt.where(Note.status == _STATUSES[status])
        for name, raw in (("root", root), ("cursor", cursor)):
            if raw is not None and (not raw.isascii() or not raw.isdigit() or len(raw) > 20):
                raise ProblemError(
                    422, "invalid-request", "The request is not valid", f"{name} must be a note id"
                )
        if root is not None:
            stmt = stmt.where(Note.root_id == int(root))
        if cursor is not None:
            stmt = stmt.where(Note.id > int(cursor))
        condition = visibility(member)
        if condition is not None:
            stmt = stmt.where(condition)
        rows = list(session.scalars(stmt).all())
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = str(rows[-1].id) if more else None
        return NotePage(items=notes_out(context, session, rows), next_cursor=next_cursor)


def _json(answer: BaseModel) -> Response:
    """`answer` serialised once by pydantic (the route's response_model documents it)."""
    return Response(answer.model_dump_json(), media_type="application/json")


def _read_visible(
    request: Request, context: AppContext, session: Session, key: str, note_id: str
) -> tuple[NoteRow, NoteRead]:
    """The note (and what came with it), if the key's member may see it (401, 404 otherwise); the
    member goes into the request state for the access log."""
    found = read_note(context, session, key, note_id)
    request.state.member_id = found.caller.id
    if found.note is None:
        raise note_not_found(note_id)
    return found.note, found


@router.get("/{note_id}", response_model=NoteOut)
def get_note(note_id: str, request: Request, context: Context, key: BearerKey) -> Response:
    """One note the caller may see."""

    def read(session: Session) -> NoteOut:
        note, found = _read_visible(request, context, session, key, note_id)
        reference, clock = found.reference, found.clock
        ids = context.members.ids(session, (note.holder, note.obligor))
        return note_out(note, ids, reference, clock)

    return _json(context.read(read))


IfNoneMatch = Annotated[str | None, Header(alias="If-None-Match")]


@router.get(
    "/{note_id}/provenance",
    response_model=ProvenanceOut,
    responses={304: {"description": "Not modified: the If-None-Match header names the current ETag"}},
)
def get_provenance(
    note_id: str, request: Request, context: Context, key: BearerKey, if_none_match: IfNoneMatch = None
) -> Response:
    """Ancestors to the root, the root's whole tree with every node's events, the path of holders.

    The answer carries an `ETag`; a request whose `If-None-Match` names it gets 304 without a body.
    Whether the caller may see the note is checked on every request."""

    def still_valid(session: Session, entry: CachedProvenance) -> bool:
        note, found = _read_visible(request, context, session, key, note_id)
        return still_the_answer(context, session, entry, note, found)

    def rendered(session: Session) -> tuple[int, CachedProvenance]:
        note, found = _read_visible(request, context, session, key, note_id)
        return note.id, render_answer(context, session, note, found)

    cache = context.provenance
    cached = cache.get(int(note_id)) if cache.enabled and is_note_id(note_id) else None
    valid = cached is not None and context.read(lambda session: still_valid(session, cached))
    entry = cached if valid else None
    if entry is None:
        number, entry = context.read(rendered, snapshot=True)
        if cache.enabled:
            cache.put(number, entry)
            context.metrics.provenance_cache.labels(result="miss").inc()
    else:
        context.metrics.provenance_cache.labels(result="hit").inc()
    headers = {"ETag": entry.etag, "Cache-Control": "private, no-cache"}
    if if_none_match is not None and _names_etag(if_none_match, entry.etag):
        return Response(status_code=304, headers=headers)
    return Response(entry.body, media_type="application/json", headers=headers)


def _names_etag(if_none_match: str, etag: str) -> bool:
    """Whether an If-None-Match value matches `etag` (weak comparison, RFC 9110 13.1.2)."""
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))
