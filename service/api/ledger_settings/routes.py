"""/v1/ledger-settings: contract-wide rules the operator sets on the ledger: the maximum tenor
(longest time from issue to maturity), the grace period (after maturity, before an unpaid note is
overdue) and the minimum part amount per currency (no note may be issued, and no split part
created, below it, so that nobody can grind a tree into dust that makes settlement expensive for
the obligor; 0: no minimum).

Every member reads the rules (they decide what its issues and splits may be); only the operator
changes them, on chain (`setMaxTenor`, `setGracePeriod`, `setMinPartAmount`), and the answer is
read back from the index. Durations are written as whole seconds."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import select

from service.api.deps import Context, CurrentMember, Operator, Write
from service.api.ledger_settings.schemas import (
    DurationIn,
    LedgerSettingsOut,
    LedgerSettingsWrite,
    MinPartAmountIn,
    MinPartAmountList,
    MinPartAmountOut,
    MinPartAmountWrite,
)
from service.api.ledger_settings.service import (
    GRACE_PERIOD,
    MAX_TENOR,
    apply_duration,
    apply_min_part_amount,
    checked_currency,
    read_ledger_settings,
    read_min_part_amount,
)
from service.api.writes import Answer
from service.db.models import MinPartAmount

router = APIRouter(tags=["ledger settings"])


@router.get("/v1/ledger-settings", response_model=LedgerSettingsOut)
def get_ledger_settings(context: Context, member: CurrentMember) -> LedgerSettingsOut:
    """Every rule the operator sets, as indexed: the maximum tenor and the grace period (seconds and
    ISO 8601 durations, with the block of their last change) and the minimum part amounts."""
    return read_ledger_settings(context)


@router.put("/v1/ledger-settings/max-tenor", response_model=LedgerSettingsWrite)
def set_max_tenor(body: DurationIn, write: Write, context: Context, member: Operator) -> JSONResponse:
    """The operator sets the longest time from issue to maturity, in seconds (1 to 3650 days). Notes
    already issued keep their maturity."""

    def action() -> Answer:
        return 200, apply_duration(context, member, MAX_TENOR, body.seconds)

    return write.run(member, body, action)


@router.put("/v1/ledger-settings/grace-period", response_model=LedgerSettingsWrite)
def set_grace_period(body: DurationIn, write: Write, context: Context, member: Operator) -> JSONResponse:
    """The operator sets how long after maturity an unpaid note becomes overdue, in seconds (0 to 90
    days)."""

    def action() -> Answer:
        return 200, apply_duration(context, member, GRACE_PERIOD, body.seconds)

    return write.run(member, body, action)


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
