"""/v1/notes: issue, answer, move and freeze notes (ledger writes); list, read and trace them (SQL)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.api.auth import admit, require_role
from service.api.context import AppContext
from service.api.deps import (
    BearerKey,
    Context,
    CurrentMember,
    IdempotencyKey,
    Obligor,
    Operator,
)
from service.api.financing.queries import min_part_amount
from service.api.idempotency import run_idempotent
from service.api.notes import provenance as provenance_answer
from service.api.notes.provenance import DEFAULT_TREE_LIMIT, MAX_TREE_LIMIT, TreePage, answer
from service.api.params import LedgerId
from service.api.problems import ProblemError, revert_problem
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
from service.api.writes import Answer, Sent, note_result, transact
from service.db.gateway_models import ApiMember, NoteReference
from service.db.models import LedgerConfig, Note, ObligorCredit
from service.db.provenance import NoteRow
from service.domain import CORE_ENTERPRISE, DEFAULT_MAX_TENOR, MemberStatus, NoteStatus, Role
from service.ledger.client import SplitPart

router = APIRouter(prefix="/v1/notes", tags=["notes"])
MAX_PAGE = 200
HOLDER_ROLES = Role.SUPPLIER | Role.FINANCIER


def _acting_member_active(session: Session, member: ApiMember) -> None:
    if member_status(session, member.address) is MemberStatus.SUSPENDED:
        raise revert_problem("MemberNotActive", f"{member.id} is suspended")


def _chain_now(context: AppContext) -> int:
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

    def action() -> Answer:
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
        return transact(
            context,
            member,
            issued_answer,
            {"reference": body.reference, "created_by": member.id},
            lambda account: context.ledger.issue(
                account, to, body.amount, body.currency, maturity, bytes.fromhex(doc[2:])
            ),
        )

    return run_idempotent(context, member, idempotency_key, "POST", request.url.path, body, action)


def issued_answer(context: AppContext, inputs: dict[str, Any], sent: list[Sent]) -> Answer:
    """The answer of an issue: the new note (its off-chain reference kept once)."""
    result, indexed = sent[-1].result, sent[-1].indexed
    note_ids = result.created_note_ids()
    if inputs.get("reference"):
        with context.session() as session:
            if session.get(NoteReference, note_ids[0]) is None:
                session.add(
                    NoteReference(
                        note_id=note_ids[0], reference=inputs["reference"], created_by=inputs["created_by"]
                    )
                )
                session.commit()
    return 201, note_result(context, result, indexed, note_ids)


def note_answer(context: AppContext, inputs: dict[str, Any], sent: list[Sent]) -> Answer:
    """The answer of a write on notes: the transaction and the notes `note_ids` (default: those it
    created)."""
    result, indexed = sent[-1].result, sent[-1].indexed
    note_ids = inputs.get("note_ids")
    ids = [int(n) for n in note_ids] if note_ids is not None else result.created_note_ids()
    return int(inputs.get("status", 200)), note_result(context, result, indexed, ids)


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
    def action() -> Answer:
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
        return transact(
            context, member, note_answer, {"note_ids": [note.id]}, lambda account: fn(account, note.id)
        )

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

    def action() -> Answer:
        note = _load(context, member, note_id)
        _check_holder(note, member)
        _check_status(note, NoteStatus.ACTIVE)
        _check_movable(context, note)
        with context.session() as session:
            to = resolve_party(session, body.to, "to")
            require_active_member(session, to, "to", HOLDER_ROLES)
        if to == member.address:
            raise revert_problem("SelfDealing", "a note cannot be transferred to its holder", field="to")
        return transact(
            context,
            member,
            note_answer,
            {"note_ids": [note.id]},
            lambda account: context.ledger.transfer(account, note.id, to),
        )

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

    def action() -> Answer:
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
        return transact(
            context, member, note_answer, {}, lambda account: context.ledger.split(account, note.id, parts)
        )

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

    def action() -> Answer:
        note = _load(context, member, note_id)
        if note.frozen:
            raise revert_problem("NoteIsFrozen", f"note {note.id} is already frozen")
        if not NoteStatus(note.status).is_live:
            raise revert_problem("NoteNotLive", f"note {note.id} is {NoteStatus(note.status).name.lower()}")
        return transact(
            context,
            member,
            note_answer,
            {"note_ids": [note.id]},
            lambda account: context.ledger.freeze(account, note.id, reason.encode()),
        )

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

    def action() -> Answer:
        note = _load(context, member, note_id)
        if not note.frozen:
            raise revert_problem("NoteNotFrozen", f"note {note.id} is not frozen")
        return transact(
            context,
            member,
            note_answer,
            {"note_ids": [note.id]},
            lambda account: context.ledger.unfreeze(account, note.id),
        )

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
    root: LedgerId | None = None,
    cursor: Annotated[LedgerId | None, Query(description="next_cursor of the previous page")] = None,
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
        if root is not None:
            stmt = stmt.where(Note.root_id == root)
        if cursor is not None:
            stmt = stmt.where(Note.id > cursor)
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
    note_id: str,
    request: Request,
    context: Context,
    key: BearerKey,
    if_none_match: IfNoneMatch = None,
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
    Whether the caller may see the note is checked on every request."""
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
    headers = {"ETag": result.etag, "Cache-Control": "private, no-cache"}
    if if_none_match is not None and _names_etag(if_none_match, result.etag):
        return Response(status_code=304, headers=headers)
    return Response(result.body, media_type="application/json", headers=headers)


def _names_etag(if_none_match: str, etag: str) -> bool:
    """Whether an If-None-Match value matches `etag` (weak comparison, RFC 9110 13.1.2)."""
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))
