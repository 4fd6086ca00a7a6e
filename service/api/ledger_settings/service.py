"""Ledger settings: the maximum tenor, the grace period and the minimum part amounts; read and set
(the API and `credchain ledger-settings`)."""

from __future__ import annotations

from typing import Any

from eth_account.signers.local import LocalAccount
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.api.context import AppContext
from service.api.ledger_settings.schemas import (
    DurationOut,
    LedgerSettingsOut,
    LedgerSettingsWrite,
    MinPartAmountOut,
    MinPartAmountWrite,
)
from service.api.params import is_currency_code
from service.api.problems import revert_problem
from service.api.writes import Answer, Sent, transact
from service.db.gateway_models import ApiMember
from service.db.models import Event, LedgerConfig, MinPartAmount
from service.domain import (
    DEFAULT_GRACE_PERIOD,
    DEFAULT_MAX_TENOR,
    MAX_GRACE_PERIOD,
    MAX_TENOR_BOUND,
    MIN_TENOR_BOUND,
    SECONDS_PER_DAY,
)
from service.ledger.types import TxResult

MAX_TENOR = "max_tenor"
GRACE_PERIOD = "grace_period"
_CHANGE_EVENTS = {MAX_TENOR: "MaxTenorChanged", GRACE_PERIOD: "GracePeriodChanged"}


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


def iso_duration(seconds: int) -> str:
    """`seconds` as an ISO 8601 duration of days, hours, minutes and seconds: P365D, P1DT12H, PT0S
    (no years or months: their length varies, the contract counts seconds)."""
    days, rest = divmod(seconds, SECONDS_PER_DAY)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    time = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (secs, "S")) if n)
    if not days and not time:
        return "PT0S"
    return "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")


def _days(seconds: int) -> str:
    return f"{seconds // SECONDS_PER_DAY} days" if seconds % SECONDS_PER_DAY == 0 else f"{seconds} s"


def checked_duration(setting: str, seconds: int) -> int:
    """`seconds` if the contract accepts it for `setting`, else its refusal (422) before signing."""
    if setting == MAX_TENOR and not MIN_TENOR_BOUND <= seconds <= MAX_TENOR_BOUND:
        raise revert_problem(
            "InvalidTenor",
            f"the maximum tenor must be between {_days(MIN_TENOR_BOUND)} and {_days(MAX_TENOR_BOUND)} "
            f"({MIN_TENOR_BOUND} to {MAX_TENOR_BOUND} seconds), not {seconds} seconds",
            field="seconds",
            minimum=str(MIN_TENOR_BOUND),
            maximum=str(MAX_TENOR_BOUND),
        )
    if setting == GRACE_PERIOD and not 0 <= seconds <= MAX_GRACE_PERIOD:
        raise revert_problem(
            "InvalidGracePeriod",
            f"the grace period must be at most {_days(MAX_GRACE_PERIOD)} ({MAX_GRACE_PERIOD} seconds), "
            f"not {seconds} seconds",
            field="seconds",
            maximum=str(MAX_GRACE_PERIOD),
        )
    return seconds


def ledger_settings_out(session: Session, contract: str) -> LedgerSettingsOut:
    """The ledger's settings as indexed, each duration with the block of its last change."""
    config = session.get(LedgerConfig, contract)
    values = {
        MAX_TENOR: config.max_tenor if config is not None else DEFAULT_MAX_TENOR,
        GRACE_PERIOD: config.grace_period if config is not None else DEFAULT_GRACE_PERIOD,
    }
    query = (
        select(Event.name, func.max(Event.block_number))
        .where(Event.contract == contract, Event.name.in_(_CHANGE_EVENTS.values()))
        .group_by(Event.name)
    )
    changed: dict[str, int] = {name: block for name, block in session.execute(query)}
    durations = {
        name: DurationOut(
            seconds=seconds,
            duration=iso_duration(seconds),
            updated_block=changed.get(_CHANGE_EVENTS[name]),
        )
        for name, seconds in values.items()
    }
    rows = session.scalars(select(MinPartAmount).order_by(MinPartAmount.currency)).all()
    return LedgerSettingsOut(
        max_tenor=durations[MAX_TENOR],
        grace_period=durations[GRACE_PERIOD],
        min_part_amounts=[
            MinPartAmountOut(currency=r.currency, amount=str(r.amount), updated_block=r.updated_block)
            for r in rows
        ],
    )


def read_ledger_settings(context: AppContext) -> LedgerSettingsOut:
    with context.session() as session:
        return ledger_settings_out(session, context.ledger.address)


def apply_duration(
    context: AppContext, operator: ApiMember, setting: str, seconds: int
) -> LedgerSettingsWrite:
    """Set the maximum tenor (`MAX_TENOR`) or the grace period (`GRACE_PERIOD`) on the ledger, signed
    by the operator's custodial key (the routes and `credchain ledger-settings`); answered from the
    index."""
    checked_duration(setting, seconds)

    def setter(account: LocalAccount) -> TxResult:
        if setting == MAX_TENOR:
            return context.ledger.set_max_tenor(account, seconds)
        return context.ledger.set_grace_period(account, seconds)

    _status, answer = transact(
        context, operator, duration_answer, {"setting": setting, "seconds": seconds}, setter
    )
    assert isinstance(answer, LedgerSettingsWrite)
    return answer


def duration_answer(context: AppContext, inputs: dict[str, Any], sent: list[Sent]) -> Answer:
    """The answer of a maximum tenor or grace period set: the ledger's settings as indexed (the one
    set as sent if the index has not caught up)."""
    result, indexed = sent[-1].result, sent[-1].indexed
    with context.session() as session:
        out = ledger_settings_out(session, context.ledger.address)
    if not indexed:
        seconds = int(inputs["seconds"])
        sent_value = DurationOut(
            seconds=seconds, duration=iso_duration(seconds), updated_block=result.block_number
        )
        out = out.model_copy(update={str(inputs["setting"]): sent_value})
    return 200, LedgerSettingsWrite(
        tx_hash=result.tx_hash, block_number=result.block_number, indexed=indexed, ledger_settings=out
    )
