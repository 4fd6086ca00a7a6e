"""Minimum part amounts: read and set (the API and `credchain ledger-settings`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from service.api.context import AppContext
from service.api.ledger_settings.schemas import MinPartAmountOut, MinPartAmountWrite
from service.api.params import is_currency_code
from service.api.problems import revert_problem
from service.api.writes import Answer, Sent, transact
from service.db.gateway_models import ApiMember
from service.db.models import MinPartAmount


def checked_currency(currency: str) -> str:
    if not is_currency_code(currency):
        raise revert_problem("InvalidCurrency", f"{currency!r} is not an ISO 4217 code", field="currency")
    return currency


def min_part_amount_out(session: Session, currency: str) -> MinPartAmountOut:
    row = session.get(MinPartAmount, currency)
    if row is None:
        return MinPartAmountOut(currency=currency, amount="0", updated_block=None)
    return MinPartAmountOut(currency=currency, amount=str(row.amount), updated_block=row.updated_block)


def apply_min_part_amount(
    context: AppContext, operator: ApiMember, currency: str, amount: int
) -> MinPartAmountWrite:
    """Set `currency`'s minimum part amount on the ledger, signed by the operator's custodial key
    (the route and `credchain ledger-settings min-part-amount`); answered from the index."""
    code = checked_currency(currency)
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
            min_part_amount_out(session, code)
            if indexed
            else MinPartAmountOut(currency=code, amount=inputs["amount"], updated_block=result.block_number)
        )
    return 200, MinPartAmountWrite(
        tx_hash=result.tx_hash, block_number=result.block_number, indexed=indexed, min_part_amount=out
    )


def read_min_part_amount(context: AppContext, currency: str) -> MinPartAmountOut:
    with context.session() as session:
        return min_part_amount_out(session, checked_currency(currency))
