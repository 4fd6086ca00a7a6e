"""/v1/receivables and /v1/members/{id}/credit-score: a supplier originates a receivable on its
attested invoice (auto-approval then offers at once), parties read it, its buyer converts it into a
confirmed note, a financier asks which of its policy's rules pass; a supplier's explainable score."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from service.api.auth import sees_everything
from service.api.deps import Context, CurrentMember, Financier, Obligor, Write, role_dependency
from service.api.members.queries import resolve_party
from service.api.notes.queries import parse_note_id
from service.api.params import LedgerId
from service.api.problems import ProblemError
from service.api.receivables.schemas import (
    CreditScoreOut,
    FinancingQuoteOut,
    ReceivableIn,
    ReceivableOut,
    ReceivablePage,
    ReceivableWrite,
)
from service.api.receivables.service import (
    auto_approve,
    convert,
    credit_score_of,
    financing_quote_of,
    find_receivables,
    originate,
    receivables_out,
    visible_receivable,
)
from service.api.schemas import Empty
from service.api.writes import Answer
from service.db.gateway_models import ApiMember
from service.domain import FINANCIER, SUPPLIER

router = APIRouter(tags=["receivables"])
MAX_PAGE = 200
Supplier = Annotated[ApiMember, Depends(role_dependency(SUPPLIER))]


@router.post("/v1/receivables", status_code=201, response_model=None)
def originate_receivable(
    body: ReceivableIn, write: Write, context: Context, member: Supplier
) -> JSONResponse:
    """Originate a note on an attested invoice, with the supplier as obligor of record (it owes the
    holder at maturity) and the invoice's buyer as underlying debtor; it counts against the
    supplier's own limit, never the buyer's. Financiers with auto-approval on evaluate it at once."""

    def action() -> Answer:
        status, answer = originate(context, member, body)
        assert isinstance(answer, ReceivableWrite)
        if answer.receivable is None:  # not indexed in time: the scheduler's auto-approval sweep
            return status, answer
        note_id = int(answer.receivable.note_id)
        auto_approve(context, note_id)
        with context.session() as session:  # the answer shows the offers just made
            row = visible_receivable(session, member, note_id)
            fresh = receivables_out(context, session, member, [row])[0]
        return status, answer.model_copy(update={"receivable": fresh})

    return write.run(member, body, action)


@router.get("/v1/receivables", response_model=ReceivablePage)
def list_receivables(
    context: Context,
    member: CurrentMember,
    supplier: str | None = Query(default=None, max_length=64, description="member id or address"),
    buyer: str | None = Query(default=None, max_length=64, description="member id or address"),
    cursor: Annotated[LedgerId | None, Query(description="next_cursor of the previous page")] = None,
    limit: int = Query(default=50, ge=1, le=MAX_PAGE),
) -> ReceivablePage:
    """The receivables the caller may see (as buyer, or through their notes), by note id."""
    with context.session() as session:
        items, more = find_receivables(
            context,
            session,
            member,
            supplier=resolve_party(session, supplier, "supplier") if supplier is not None else None,
            buyer=resolve_party(session, buyer, "buyer") if buyer is not None else None,
            cursor=cursor,
            limit=limit,
        )
    return ReceivablePage(items=items, next_cursor=items[-1].note_id if more and items else None)


@router.get("/v1/receivables/{note_id}", response_model=ReceivableOut)
def get_receivable(note_id: str, context: Context, member: CurrentMember) -> ReceivableOut:
    with context.session() as session:
        row = visible_receivable(session, member, parse_note_id(note_id))
        return receivables_out(context, session, member, [row])[0]


@router.post("/v1/receivables/{note_id}/convert", response_model=None)
def convert_receivable(
    note_id: str, write: Write, context: Context, member: Obligor, body: Empty | None = None
) -> JSONResponse:
    """The buyer confirms the underlying payable: the receivable's tree is owed by the buyer from
    now on (its limit used, the supplier's freed); provenance keeps the link."""
    wanted = parse_note_id(note_id)

    def action() -> Answer:
        return convert(context, member, wanted)

    return write.run(member, body or Empty(), action)


@router.post("/v1/receivables/{note_id}/financing-quote", response_model=FinancingQuoteOut)
def financing_quote(
    note_id: str, context: Context, member: Financier, body: Empty | None = None
) -> FinancingQuoteOut:
    """Which rules of the caller's policy the receivable passes and fails, with the figures, and the
    price the policy gives it (advance discounted at the score band's rate, ACT/360)."""
    wanted = parse_note_id(note_id)
    with context.session() as session:
        visible_receivable(session, member, wanted)
    return financing_quote_of(context, member.address, wanted)


@router.get("/v1/members/{member_id}/credit-score", response_model=CreditScoreOut)
def member_credit_score(member_id: str, context: Context, member: CurrentMember) -> CreditScoreOut:
    """The member's explainable score (0..1000) from ledger data only, each factor with its value,
    weight and contribution; to the member itself, financiers, the auditor and the operator."""
    with context.session() as session:
        address = resolve_party(session, member_id, "member")
        subject = context.members.ids(session, [address]).get(address)
    if address != member.address and FINANCIER not in member.role_names and not sees_everything(member):
        raise ProblemError(
            403,
            "forbidden",
            "Your roles do not allow this",
            "a credit score is shown to the member itself and to financiers",
            required_roles=[FINANCIER],
        )
    return credit_score_of(context, address, subject or member_id)
