"""/v1/credit-relationships: an obligor approves the financiers that may grant it credit (and see its
notes), and may withdraw an approval; each side lists its own relationships."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from service.api.auth import sees_everything
from service.api.context import AppContext
from service.api.deps import Context, IdempotencyKey, Obligor, RelationshipReader
from service.api.idempotency import run_idempotent
from service.api.problems import revert_problem
from service.api.queries import member_status, resolve_party
from service.api.schemas import (
    CreditRelationshipCreate,
    CreditRelationshipList,
    CreditRelationshipOut,
    CreditRelationshipWrite,
)
from service.api.writes import Answer, Sent, transact
from service.db.gateway_models import ApiMember
from service.db.models import CreditGrant, Member
from service.domain import MemberStatus, Role

router = APIRouter(prefix="/v1/credit-relationships", tags=["credit relationships"])


def relationship_out(context: AppContext, session: Session, row: CreditGrant) -> CreditRelationshipOut:
    ids = context.members.ids(session, {row.financier, row.obligor})
    return CreditRelationshipOut(
        financier=row.financier,
        financier_member=ids.get(row.financier),
        obligor=row.obligor,
        obligor_member=ids.get(row.obligor),
        status="approved" if row.approved else "withdrawn",
        grant=str(row.amount),
        approved_block=row.approved_block,
        updated_block=row.updated_block,
    )


def _financier_of(session: Session, obligor: ApiMember, party: str) -> str:
    """The address of the financier `party` names; the same pre-checks as the contract's."""
    if member_status(session, obligor.address) is MemberStatus.SUSPENDED:
        raise revert_problem("MemberNotActive", f"{obligor.id} is suspended")
    financier = resolve_party(session, party, "financier")
    if financier == obligor.address:
        raise revert_problem("SelfDealing", "an obligor cannot be its own financier", field="financier")
    row = session.get(Member, financier)
    if row is None:
        raise revert_problem("NotAMember", f"financier: {financier} is not a member", field="financier")
    if not Role(row.roles) & Role.FINANCIER:
        raise revert_problem("MissingRole", f"financier: {financier} is not a financier", field="financier")
    if MemberStatus(row.status) is MemberStatus.SUSPENDED:
        raise revert_problem("MemberNotActive", f"financier: {financier} is suspended", field="financier")
    return financier


def relationship_answer(context: AppContext, inputs: dict[str, Any], sent: list[Sent]) -> Answer:
    """The answer of an approval (201) or a withdrawal (200): the relationship as indexed."""
    result, indexed = sent[-1].result, sent[-1].indexed
    relationship = None
    if indexed:
        with context.session() as session:
            row = session.get(CreditGrant, (inputs["financier"], inputs["obligor"]))
            if row is not None:
                relationship = relationship_out(context, session, row)
    return int(inputs["status"]), CreditRelationshipWrite(
        tx_hash=result.tx_hash, block_number=result.block_number, indexed=indexed, relationship=relationship
    )


def approve_financier(context: AppContext, obligor: ApiMember, party: str) -> CreditRelationshipWrite:
    """`obligor` approves the financier `party` (member id or address); also used to seed the demo."""
    with context.session() as session:
        financier = _financier_of(session, obligor, party)
        current = session.get(CreditGrant, (financier, obligor.address))
        if current is not None and current.approved:
            raise revert_problem(
                "FinancierAlreadyApproved",
                f"you have already approved financier {financier}",
                field="financier",
            )
    _status, answer = transact(
        context,
        obligor,
        relationship_answer,
        {"financier": financier, "obligor": obligor.address, "status": 201},
        lambda account: context.ledger.approve_financier(account, financier),
    )
    assert isinstance(answer, CreditRelationshipWrite)
    return answer


@router.post("", status_code=201, response_model=CreditRelationshipWrite)
def approve(
    body: CreditRelationshipCreate,
    request: Request,
    context: Context,
    obligor: Obligor,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Approve a financier: from now on it may grant you credit, and once its grant is above 0 it
    sees your notes, trees and risk."""

    def action() -> tuple[int, CreditRelationshipWrite]:
        return 201, approve_financier(context, obligor, body.financier)

    return run_idempotent(context, obligor, idempotency_key, "POST", request.url.path, body, action)


@router.delete("/{financier}", response_model=CreditRelationshipWrite)
def withdraw(
    financier: str,
    request: Request,
    context: Context,
    obligor: Obligor,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Withdraw your approval of a financier (member id or address): its grant is removed from your
    credit limit at once (issuance beyond what remains is refused; notes already issued stay valid)
    and it no longer sees your notes."""

    def action() -> Answer:
        with context.session() as session:
            address = resolve_party(session, financier, "financier")
            current = session.get(CreditGrant, (address, obligor.address))
            if current is None or not current.approved:
                raise revert_problem(
                    "FinancierNotApproved",
                    f"you have no approved relationship with financier {address}",
                    field="financier",
                )
        return transact(
            context,
            obligor,
            relationship_answer,
            {"financier": address, "obligor": obligor.address, "status": 200},
            lambda account: context.ledger.withdraw_financier(account, address),
        )

    return run_idempotent(context, obligor, idempotency_key, "DELETE", request.url.path, None, action)


@router.get("", response_model=CreditRelationshipList)
def list_relationships(
    context: Context,
    member: RelationshipReader,
    financier: Annotated[str | None, Query(description="only this financier (member id or address)")] = None,
    obligor: Annotated[str | None, Query(description="only this obligor (member id or address)")] = None,
    status: Annotated[str | None, Query(pattern="^(approved|withdrawn)$")] = None,
) -> CreditRelationshipList:
    """Credit relationships: a financier sees its own, an obligor its own (a member with both roles
    both), the auditor and the operator all of them."""
    with context.session() as session:
        stmt = select(CreditGrant).order_by(CreditGrant.obligor, CreditGrant.financier)
        if not sees_everything(member):
            stmt = stmt.where(
                or_(CreditGrant.financier == member.address, CreditGrant.obligor == member.address)
            )
        if financier is not None:
            stmt = stmt.where(CreditGrant.financier == resolve_party(session, financier, "financier"))
        if obligor is not None:
            stmt = stmt.where(CreditGrant.obligor == resolve_party(session, obligor, "obligor"))
        if status is not None:
            stmt = stmt.where(CreditGrant.approved.is_(status == "approved"))
        rows = list(session.scalars(stmt))
        return CreditRelationshipList(items=[relationship_out(context, session, row) for row in rows])
