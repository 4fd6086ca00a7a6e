"""/v1/settlement-tokens: the permissioned ERC-20 of tokenized deposits each currency settles in.

The operator (standing for the settlement bank) registers a currency's token, mints against
deposits and burns on payouts; a member reads its account (balance and what it allows the ledger to
take) and, when the gateway holds its key, sets that allowance. Balances are read from the chain:
token movements are not indexed into SQL. `/v1/dev/clock` moves the in-process chain's clock (the
embedded demo only, to reach maturity)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from service.api.auth import sees_everything
from service.api.deps import Context, CurrentMember, Operator, Write
from service.api.financing.queries import require_token
from service.api.members.queries import find_member
from service.api.params import Currency
from service.api.problems import ProblemError
from service.api.tokens.schemas import (
    AccountOut,
    AccountWrite,
    AllowanceSet,
    TokenList,
    TokenMovement,
    TokenRegister,
    TokenWrite,
)
from service.api.tokens.service import (  # noqa: F401 (idempotency journals recorded before they moved name them here)
    account_answer,
    account_out,
    apply_movement,
    apply_registration,
    registered_tokens,
    token_registered_answer,
)
from service.api.writes import Answer, signer, transact
from service.db.gateway_models import ApiMember

router = APIRouter(tags=["settlement tokens"])


def _visible_member(session: Session, caller: ApiMember, member_id: str) -> ApiMember:
    """The member whose account `caller` asks for: itself, or anyone for the auditor and operator
    (others get 404, as for notes they cannot see)."""
    if member_id != caller.id and not sees_everything(caller):
        raise ProblemError(404, "not-found", "No such member", f"no member {member_id!r} visible to you")
    return find_member(session, member_id)


@router.get("/v1/settlement-tokens", response_model=TokenList)
def list_tokens(context: Context, _member: CurrentMember) -> TokenList:
    """Every registered settlement token, by currency."""
    return registered_tokens(context)


@router.post("/v1/settlement-tokens", response_model=TokenWrite, status_code=201)
def register_token(
    body: TokenRegister,
    write: Write,
    context: Context,
    member: Operator,
) -> JSONResponse:
    """Deploy the settlement token of a currency and register it with the ledger (once per currency)."""

    def action() -> Answer:
        return 201, apply_registration(context, member, body.currency, body.decimals)

    return write.run(member, body, action)


@router.post("/v1/settlement-tokens/{currency}/deposits", response_model=AccountWrite)
def deposit(
    currency: Currency,
    body: TokenMovement,
    write: Write,
    context: Context,
    member: Operator,
) -> JSONResponse:
    """The settlement bank received `amount` from a member: mint it as settlement tokens."""
    return write.run(
        member,
        body,
        lambda: (
            200,
            apply_movement(context, member, currency, body.member, body.amount, body.reference, True),
        ),
    )


@router.post("/v1/settlement-tokens/{currency}/withdrawals", response_model=AccountWrite)
def withdraw(
    currency: Currency,
    body: TokenMovement,
    write: Write,
    context: Context,
    member: Operator,
) -> JSONResponse:
    """The settlement bank paid `amount` out to a member: burn that many of its tokens."""
    return write.run(
        member,
        body,
        lambda: (
            200,
            apply_movement(context, member, currency, body.member, body.amount, body.reference, False),
        ),
    )


@router.get("/v1/settlement-tokens/{currency}/accounts/{member_id}", response_model=AccountOut)
def get_account(currency: Currency, member_id: str, context: Context, member: CurrentMember) -> AccountOut:
    """A member's balance and the allowance it gives the ledger (itself; auditor and operator: all)."""
    token = require_token(context, currency)
    with context.session() as session:
        target = _visible_member(session, member, member_id)
    return account_out(context, token, target, currency)


@router.put("/v1/settlement-tokens/{currency}/allowance", response_model=AccountWrite)
def set_allowance(
    currency: Currency,
    body: AllowanceSet,
    write: Write,
    context: Context,
    member: CurrentMember,
) -> JSONResponse:
    """Set how much of the caller's settlement tokens the ledger may take: the price of discount
    offers it accepts as financier, its payments at maturity as obligor."""

    def action() -> Answer:
        token = require_token(context, currency)
        signer(context, member)  # 409 self-custody before anything else
        return transact(
            context,
            member,
            account_answer,
            {"currency": currency, "member_id": member.id},
            lambda account: token.approve(account, context.ledger.address, body.amount),
        )

    return write.run(member, body, action)
