"""/v1/credit-relationships: an obligor approves the financiers that may grant it credit (and see its
notes), and may withdraw an approval; each side lists its own relationships."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from service.api.deps import Context, Payer, RelationshipReader, Write
from service.api.financing.schemas import (
    CreditRelationshipCreate,
    CreditRelationshipList,
    CreditRelationshipWrite,
)
from service.api.financing.service import approve_financier, find_relationships, relationship_answer
from service.api.members.queries import resolve_party
from service.api.problems import revert_problem
from service.api.writes import Answer, transact
from service.db.models import CreditGrant

router = APIRouter(prefix="/v1/credit-relationships", tags=["credit relationships"])


@router.post("", status_code=201, response_model=CreditRelationshipWrite)
def approve(
    body: CreditRelationshipCreate,
    write: Write,
    context: Context,
    obligor: Payer,
) -> JSONResponse:
    """Approve a financier: from now on it may grant you credit, and once its grant is above 0 it
    sees your notes, trees and risk."""

    def action() -> tuple[int, CreditRelationshipWrite]:
        return 201, approve_financier(context, obligor, body.financier)

    return write.run(obligor, body, action)


@router.delete("/{financier}", response_model=CreditRelationshipWrite)
def withdraw(
    financier: str,
    write: Write,
    context: Context,
    obligor: Payer,
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

    return write.run(obligor, None, action)


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
        items = find_relationships(
            context,
            session,
            member,
            financier=resolve_party(session, financier, "financier") if financier is not None else None,
            obligor=resolve_party(session, obligor, "obligor") if obligor is not None else None,
            approved=None if status is None else status == "approved",
        )
        return CreditRelationshipList(items=items)
