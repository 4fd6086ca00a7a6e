"""A member's relay gas budget: the gas the gateway's relayer may spend for one member's relayed
requests in any 24 hours (`CREDCHAIN_RELAY_GAS_PER_DAY`), counted in SQL (`relay_gas`) so that it
holds across gateway processes.

Before a relayed request is sent, its worst case (the gas it signed for the inner call plus the
forwarder's overhead) is reserved under a per-member lock (a PostgreSQL advisory lock shared by
every gateway process; in-process on SQLite, which one process serves); once the receipt is in,
the reservation becomes the gas the transaction used. A request that would take the member past
its budget is refused with 429 and `Retry-After`: when enough of the member's spending of the
last 24 hours will have aged out of the window.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from service.api.context import AppContext
from service.api.problems import ProblemError
from service.db.gateway_models import ApiMember, RelayGas

WINDOW_SECONDS: Final = 86_400
FORWARDER_OVERHEAD_GAS: Final = 100_000
"""Gas a relayed transaction spends besides its inner call, at most: 21,000 intrinsic, the request's
calldata, the forwarder's signature, deadline and nonce checks (a relayed accept measured 37,801
above the direct call, with the member's first nonce written)."""


def reservation(inner_gas: int) -> int:
    """The gas reserved for a relayed request whose inner call may use `inner_gas`."""
    return inner_gas + FORWARDER_OVERHEAD_GAS


def _retry_after(rows: list[tuple[int, int]], needed: int, budget: int, now: int) -> int:
    """Seconds until the rows (relayed_at, gas), oldest first, leave room for `needed` in the window."""
    used = sum(gas for _, gas in rows)
    for relayed_at, gas in rows:
        used -= gas
        if used + needed <= budget:
            return max(1, relayed_at + WINDOW_SECONDS - now)
    return WINDOW_SECONDS  # unreachable while needed <= budget


def _over_budget(member_id: str, inner_gas: int, budget: int) -> ProblemError:
    needed = reservation(inner_gas)
    return ProblemError(
        422,
        "relay-gas-over-budget",
        "The request needs more gas than a day's relay budget",
        f"the request may use {needed} gas (its {inner_gas} plus the forwarder's "
        f"{FORWARDER_OVERHEAD_GAS}); {member_id}'s relayed requests may use {budget} gas in 24 hours",
        field="request.gas",
        budget=str(budget),
    )


def _check_room(session: Session, member_id: str, needed: int, budget: int, now: int) -> None:
    """429 `relay-budget-exhausted` (Retry-After) unless the member's spending of the 24 hours up to
    `now` leaves room for `needed`."""
    rows = [
        (int(r[0]), int(r[1]))
        for r in session.execute(
            select(RelayGas.relayed_at, RelayGas.gas)
            .where(RelayGas.member_id == member_id, RelayGas.relayed_at > now - WINDOW_SECONDS)
            .order_by(RelayGas.relayed_at, RelayGas.id)
        )
    ]
    used = sum(gas for _, gas in rows)
    if used + needed > budget:
        wait = _retry_after(rows, needed, budget, now)
        raise ProblemError(
            429,
            "relay-budget-exhausted",
            "The member's relay gas budget is spent",
            f"{member_id}'s relayed requests used {used} of {budget} gas in the last 24 hours; this one "
            f"may need {needed}: retry in {wait} s",
            headers={"Retry-After": str(wait)},
            budget=str(budget),
            spent=str(used),
            needed=str(needed),
        )


def check(
    context: AppContext, member: ApiMember, inner_gas: int, clock: Callable[[], float] = time.time
) -> None:
    """What `reserve` would refuse, without reserving anything (for `prepare`: no point signing a
    request the budget has no room for)."""
    budget = context.settings.relay_gas_per_day
    needed = reservation(inner_gas)
    if needed > budget:
        raise _over_budget(member.id, inner_gas, budget)
    with context.session() as session:
        _check_room(session, member.id, needed, budget, int(clock()))


def reserve(
    context: AppContext, member: ApiMember, inner_gas: int, clock: Callable[[], float] = time.time
) -> int:
    """Reserve the worst case of a relayed request for `member`; returns the reservation's id (to
    `settle` or `release`). 429 `relay-budget-exhausted` with Retry-After if the member's budget of
    the last 24 hours has no room for it; 422 `relay-gas-over-budget` if no day's budget could.
    The member's rows that left the window are deleted on the way (the table stays small)."""
    budget = context.settings.relay_gas_per_day
    needed = reservation(inner_gas)
    if needed > budget:
        raise _over_budget(member.id, inner_gas, budget)
    with context.locks.hold(f"relay-gas:{member.id}"), context.session() as session:
        now = int(clock())
        session.execute(
            delete(RelayGas).where(
                RelayGas.member_id == member.id, RelayGas.relayed_at <= now - WINDOW_SECONDS
            )
        )
        _check_room(session, member.id, needed, budget, now)
        row = RelayGas(member_id=member.id, relayed_at=now, gas=needed, tx_hash=None)
        session.add(row)
        session.commit()
        return int(row.id)


def settle(context: AppContext, reservation_id: int, gas_used: int, tx_hash: str) -> None:
    """The relayed transaction was mined: count the gas it used instead of the reservation."""
    with context.session() as session:
        session.execute(
            update(RelayGas).where(RelayGas.id == reservation_id).values(gas=gas_used, tx_hash=tx_hash)
        )
        session.commit()


def release(context: AppContext, reservation_id: int) -> None:
    """Nothing was sent (refused before broadcasting): drop the reservation."""
    with context.session() as session:
        session.execute(delete(RelayGas).where(RelayGas.id == reservation_id))
        session.commit()
