"""/v1/credit-limits: a financier grants (or changes) an obligor's credit limit."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.api.deps import Context, Financier, Write
from service.api.financing.schemas import CreditLimitOut, CreditLimitSet
from service.api.financing.service import grant_credit_limit

router = APIRouter(prefix="/v1/credit-limits", tags=["credit limits"])


@router.post("", response_model=CreditLimitOut)
def set_credit_limit(
    body: CreditLimitSet,
    write: Write,
    context: Context,
    financier: Financier,
) -> JSONResponse:
    """Set this financier's grant to an obligor that approved it (the obligor's limit is the sum of
    its approved financiers' grants). The answer carries the obligor's limit and outstanding amount
    only for a grant above 0."""

    def action() -> tuple[int, CreditLimitOut]:
        return 200, grant_credit_limit(context, financier, body.obligor, body.amount)

    return write.run(financier, body, action)
