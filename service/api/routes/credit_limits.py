"""/v1/credit-limits: a financier grants (or changes) an obligor's credit limit."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from service.api.context import AppContext
from service.api.deps import Context, Financier
from service.api.idempotency import run_idempotent
from service.api.problems import revert_problem
from service.api.queries import member_status, resolve_party
from service.api.schemas import CreditLimitOut, CreditLimitSet
from service.api.writes import Answer, Sent, transact
from service.db.gateway_models import ApiMember
from service.db.models import CreditGrant, Member, ObligorCredit
from service.domain import MemberStatus, Role

router = APIRouter(prefix="/v1/credit-limits", tags=["credit limits"])


def grant_credit_limit(context: AppContext, financier: ApiMember, party: str, amount: int) -> CreditLimitOut:
    """Set `financier`'s grant to the obligor `party` (member id or address); also used to seed the
    demo."""
    with context.session() as session:
        obligor = resolve_party(session, party, "obligor")
        status = member_status(session, obligor)
        if status is MemberStatus.NONE:
            raise revert_problem("NotAMember", f"obligor: {obligor} is not a member", field="obligor")
        row = session.get(Member, obligor)
        if row is not None and not Role(row.roles) & Role.CORE_ENTERPRISE:
            raise revert_problem(
                "MissingRole", f"obligor: {obligor} is not a core enterprise", field="obligor"
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


@router.post("", response_model=CreditLimitOut)
def set_credit_limit(
    body: CreditLimitSet,
    request: Request,
    context: Context,
    financier: Financier,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """Set this financier's grant to an obligor that approved it (the obligor's limit is the sum of
    its approved financiers' grants). The answer carries the obligor's limit and outstanding amount
    only for a grant above 0."""

    def action() -> tuple[int, CreditLimitOut]:
        return 200, grant_credit_limit(context, financier, body.obligor, body.amount)

    return run_idempotent(context, financier, idempotency_key, "POST", request.url.path, body, action)
