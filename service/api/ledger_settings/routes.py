"""/v1/ledger-settings: contract-wide rules the operator sets on the ledger. Today the minimum part
amount per currency: no note may be issued, and no split part created, below it, so that nobody can
grind a tree into dust that makes settlement expensive for the obligor (0: no minimum).

Every member reads the rules (they decide what its issues and splits may be); only the operator
changes them, on chain (`setMinPartAmount`), and the answer is read back from the index."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import select

from service.api.deps import Context, CurrentMember, Operator, Write
from service.api.ledger_settings.schemas import (
    MinPartAmountIn,
    MinPartAmountList,
    MinPartAmountOut,
    MinPartAmountWrite,
)
from service.api.ledger_settings.service import apply_min_part_amount, checked_currency, read_min_part_amount
from service.api.writes import Answer
from service.db.models import MinPartAmount

router = APIRouter(tags=["ledger settings"])


@router.get("/v1/ledger-settings/min-part-amounts", response_model=MinPartAmountList)
def list_min_part_amounts(context: Context, member: CurrentMember) -> MinPartAmountList:
    """The minimum part amount of every currency the operator ever set one for."""
    with context.session() as session:
        rows = session.scalars(select(MinPartAmount).order_by(MinPartAmount.currency)).all()
        return MinPartAmountList(
            items=[
                MinPartAmountOut(currency=r.currency, amount=str(r.amount), updated_block=r.updated_block)
                for r in rows
            ]
        )


@router.get("/v1/ledger-settings/min-part-amounts/{currency}", response_model=MinPartAmountOut)
def get_min_part_amount(currency: str, context: Context, member: CurrentMember) -> MinPartAmountOut:
    """The minimum part amount of one currency ("0": none)."""
    return read_min_part_amount(context, currency)


@router.put("/v1/ledger-settings/min-part-amounts/{currency}", response_model=MinPartAmountWrite)
def set_min_part_amount(
    currency: str,
    body: MinPartAmountIn,
    write: Write,
    context: Context,
    member: Operator,
) -> JSONResponse:
    """The operator sets the smallest note or split part allowed in a currency (0 lifts it). Notes
    already smaller stay as they are: they may still be paid, moved whole, or split into parts that
    meet the minimum."""
    code = checked_currency(currency)

    def action() -> Answer:
        return 200, apply_min_part_amount(context, member, code, body.amount)

    return write.run(member, body, action)
