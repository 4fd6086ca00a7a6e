"""/v1/ledger-settings: contract-wide rules the operator sets on the ledger. Today the minimum part
amount per currency: no note may be issued, and no split part created, below it, so that nobody can
grind a tree into dust that makes settlement expensive for the obligor (0: no minimum).

Every member reads the rules (they decide what its issues and splits may be); only the operator
changes them, on chain (`setMinPartAmount`), and the answer is read back from the index."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.api.context import AppContext
from service.api.deps import Context, CurrentMember, IdempotencyKey, Operator
from service.api.idempotency import run_idempotent
from service.api.params import is_currency_code
from service.api.problems import revert_problem
from service.api.schemas import GrantAmount, StrictModel
from service.api.writes import Answer, Sent, transact
from service.db.gateway_models import ApiMember
from service.db.models import MinPartAmount

router = APIRouter(tags=["ledger settings"])


class MinPartAmountIn(StrictModel):
    amount: GrantAmount = Field(description="minor units; 0 lifts the minimum")


class MinPartAmountOut(BaseModel):
    currency: str
    amount: str
    """Minor units, as a string; "0" when the operator never set one (no minimum)."""
    updated_block: int | None


class MinPartAmountList(BaseModel):
    items: list[MinPartAmountOut]


class MinPartAmountWrite(BaseModel):
    tx_hash: str
    block_number: int
    indexed: bool
    min_part_amount: MinPartAmountOut


def _checked_currency(currency: str) -> str:
    if not is_currency_code(currency):
        raise revert_problem("InvalidCurrency", f"{currency!r} is not an ISO 4217 code", field="currency")
    return currency


def _out(session: Session, currency: str) -> MinPartAmountOut:
    row = session.get(MinPartAmount, currency)
    if row is None:
        return MinPartAmountOut(currency=currency, amount="0", updated_block=None)
    return MinPartAmountOut(currency=currency, amount=str(row.amount), updated_block=row.updated_block)


def apply_min_part_amount(
    context: AppContext, operator: ApiMember, currency: str, amount: int
) -> MinPartAmountWrite:
    """Set `currency`'s minimum part amount on the ledger, signed by the operator's custodial key
    (the route and `credchain ledger-settings min-part-amount`); answered from the index."""
    code = _checked_currency(currency)
    _status, answer = transact(
        context,
        operator,
        min_part_amount_answer,
        {"currency": code, "amount": str(amount)},
        lambda account: context.ledger.set_min_part_amount(account, code, amount),
    )
    assert isinstance(answer, MinPartAmountWrite)
    return answer


def min_part_amount_answer(context: AppContext, inputs: dict[str, Any], sent: list[Sent]) -> Answer:
    """The answer of a minimum part amount set: the currency's minimum as indexed."""
    result, indexed = sent[-1].result, sent[-1].indexed
    code = str(inputs["currency"])
    with context.session() as session:
        out = (
            _out(session, code)
            if indexed
            else MinPartAmountOut(currency=code, amount=inputs["amount"], updated_block=result.block_number)
        )
    return 200, MinPartAmountWrite(
        tx_hash=result.tx_hash, block_number=result.block_number, indexed=indexed, min_part_amount=out
    )


def read_min_part_amount(context: AppContext, currency: str) -> MinPartAmountOut:
    with context.session() as session:
        return _out(session, _checked_currency(currency))


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
    request: Request,
    context: Context,
    member: Operator,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """The operator sets the smallest note or split part allowed in a currency (0 lifts it). Notes
    already smaller stay as they are: they may still be paid, moved whole, or split into parts that
    meet the minimum."""
    code = _checked_currency(currency)

    def action() -> Answer:
        return 200, apply_min_part_amount(context, member, code, body.amount)

    return run_idempotent(context, member, idempotency_key, "PUT", request.url.path, body, action)
