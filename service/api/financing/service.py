"""Financing use cases shared by the API and the demo seed: credit relationships and limits."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from service.api.auth import sees_everything
from service.api.context import AppContext
from service.api.financing.schemas import CreditLimitOut, CreditRelationshipOut, CreditRelationshipWrite
from service.api.members.queries import member_status, require_acting_member_active, resolve_party
from service.api.problems import revert_problem
from service.api.writes import Answer, Sent, transact
from service.db.gateway_models import ApiMember
from service.db.models import CreditGrant, Member, ObligorCredit
from service.domain import MemberStatus, Role


def grant_credit_limit(context: AppContext, financier: ApiMember, party: str, amount: int) -> CreditLimitOut:
    """Set `financier`'s grant to the obligor `party` (member id or address); also used to seed the
    demo."""
    with context.session() as session:
        obligor = resolve_party(session, party, "obligor")
        status = member_status(session, obligor)
        if status is MemberStatus.NONE:
            raise revert_problem("NotAMember", f"obligor: {obligor} is not a member", field="obligor")
        row = session.get(Member, obligor)
        if row is not None and not Role(row.roles) & (Role.CORE_ENTERPRISE | Role.SUPPLIER):
            raise revert_problem(
                "MissingRole",
                f"obligor: {obligor} is neither a core enterprise nor a supplier",
                field="obligor",
            )
        relationship = session.get(CreditGrant, (financier.address, obligor))
        if relationship is None or not relationship.approved:
            raise revert_problem(
                "FinancierNotApproved",
                f"obligor {obligor} has not approved you as its financier (or withdrew its approval); "
                "it approves you with POST /v1/credit-relationships",
                field="obligor",
            )
    _status, answer = transact(
        context,
        financier,
        credit_limit_answer,
        {"financier": financier.address, "obligor": obligor, "grant": amount},
        lambda account: context.ledger.set_credit_limit(account, obligor, amount),
    )
    assert isinstance(answer, CreditLimitOut)
    return answer


def credit_limit_answer(context: AppContext, inputs: dict[str, Any], sent: list[Sent]) -> Answer:
    result, indexed = sent[-1].result, sent[-1].indexed
    limit = outstanding = None
    if indexed and int(inputs["grant"]) > 0:  # a financier with a grant above 0 may see the obligor's totals
        with context.session() as session:
            credit = session.get(ObligorCredit, inputs["obligor"])
            if credit is not None:
                limit, outstanding = str(credit.credit_limit), str(credit.outstanding)
    return 200, CreditLimitOut(
        tx_hash=result.tx_hash,
        block_number=result.block_number,
        financier=inputs["financier"],
        obligor=inputs["obligor"],
        grant=str(inputs["grant"]),
        credit_limit=limit,
        outstanding=outstanding,
    )


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


def financier_of(session: Session, obligor: ApiMember, party: str) -> str:
    """The address of the financier `party` names; the same pre-checks as the contract's."""
    require_acting_member_active(session, obligor)
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
        financier = financier_of(session, obligor, party)
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


def find_relationships(
    context: AppContext,
    session: Session,
    member: ApiMember,
    *,
    financier: str | None = None,
    obligor: str | None = None,
    approved: bool | None = None,
) -> list[CreditRelationshipOut]:
    """The credit relationships `member` may see (a financier its own, an obligor its own, the
    auditor and the operator all), optionally of one financier or obligor (addresses) or status."""
    stmt = select(CreditGrant).order_by(CreditGrant.obligor, CreditGrant.financier)
    if not sees_everything(member):
        stmt = stmt.where(or_(CreditGrant.financier == member.address, CreditGrant.obligor == member.address))
    if financier is not None:
        stmt = stmt.where(CreditGrant.financier == financier)
    if obligor is not None:
        stmt = stmt.where(CreditGrant.obligor == obligor)
    if approved is not None:
        stmt = stmt.where(CreditGrant.approved.is_(approved))
    return [relationship_out(context, session, row) for row in session.scalars(stmt)]
