"""/v1/funding: the operator's view of what pays the gas (the funder, per-account funding, the
relayer, custodial accounts running low) and top-ups from the funder."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.api.deps import Context, Operator, Write
from service.api.funding.schemas import FundingStatus, TopUpIn, TopUpOut
from service.api.funding.service import funding_status, top_up
from service.api.writes import Answer

router = APIRouter(tags=["funding"])


@router.get("/v1/funding", response_model=FundingStatus)
def get_funding(context: Context, member: Operator) -> FundingStatus:
    """The funder's address and balance, the ether each new custodial account gets, what one write
    may cost, the relayer's balance, and the custodial accounts below that cost (operator only)."""
    return funding_status(context)


@router.post("/v1/funding/top-ups", response_model=TopUpOut, status_code=201)
def post_top_up(body: TopUpIn, write: Write, context: Context, member: Operator) -> JSONResponse:
    """Send ether for gas from the funder to a member's custodial account (or `relayer`), operator
    only; with an Idempotency-Key it is sent once however often the request is retried."""

    def action() -> Answer:
        return 201, top_up(context, body.member_id, body.amount_wei)

    return write.run(member, body, action)
