"""/v1/settlement-tokens: the permissioned ERC-20 of tokenized deposits each currency settles in.

The operator (standing for the settlement bank) registers a currency's token, mints against
deposits and burns on payouts; a member reads its account (balance and what it allows the ledger to
take) and, when the gateway holds its key, sets that allowance. Balances are read from the chain:
token movements are not indexed into SQL. `/v1/dev/clock` moves the in-process chain's clock (the
embedded demo only, to reach maturity)."""

from __future__ import annotations

from typing import Any

from eth_account.signers.local import LocalAccount
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.api.auth import sees_everything
from service.api.context import AppContext
from service.api.deps import Context, CurrentMember, Operator, Write
from service.api.financing.queries import require_token
from service.api.members.queries import find_member, member_status
from service.api.params import Currency
from service.api.problems import ProblemError, revert_problem
from service.api.tokens.schemas import (
    AccountOut,
    AccountWrite,
    AllowanceSet,
    TokenList,
    TokenMovement,
    TokenOut,
    TokenRegister,
    TokenWrite,
)
from service.api.tokens.service import registration_steps
from service.api.writes import Answer, Sent, signer, transact
from service.db.gateway_models import ApiMember
from service.db.models import SettlementToken
from service.domain import MemberStatus
from service.ledger.client import SettlementTokenClient
from service.ledger.types import TxResult

router = APIRouter(tags=["settlement tokens"])


def _token_out(session: Session, currency: str) -> TokenOut | None:
    row = session.get(SettlementToken, currency)
    if row is None:
        return None
    return TokenOut(currency=row.currency, token=row.token, registered_block=row.registered_block)


def _account(
    context: AppContext, token: SettlementTokenClient, member: ApiMember, currency: str
) -> AccountOut:
    balance = token.balance_of(member.address)
    allowance = token.allowance(member.address, context.ledger.address)
    return AccountOut(
        member=member.id,
        address=member.address,
        currency=currency,
        balance=str(balance),
        ledger_allowance=str(allowance),
    )


def _visible_member(session: Session, caller: ApiMember, member_id: str) -> ApiMember:
    """The member whose account `caller` asks for: itself, or anyone for the auditor and operator
    (others get 404, as for notes they cannot see)."""
    if member_id != caller.id and not sees_everything(caller):
        raise ProblemError(404, "not-found", "No such member", f"no member {member_id!r} visible to you")
    return find_member(session, member_id)


@router.get("/v1/settlement-tokens", response_model=TokenList)
def list_tokens(context: Context, _member: CurrentMember) -> TokenList:
    """Every registered settlement token, by currency."""
    with context.session() as session:
        rows = session.scalars(select(SettlementToken).order_by(SettlementToken.currency)).all()
    return TokenList(
        items=[
            TokenOut(currency=r.currency, token=r.token, registered_block=r.registered_block) for r in rows
        ]
    )


@router.post("/v1/settlement-tokens", response_model=TokenWrite, status_code=201)
def register_token(
    body: TokenRegister,
    write: Write,
    context: Context,
    member: Operator,
) -> JSONResponse:
    """Deploy the settlement token of a currency and register it with the ledger (once per currency)."""

    def action() -> Answer:
        if context.settlement_token(body.currency) is not None:
            raise revert_problem(
                "SettlementTokenAlreadySet",
                f"{body.currency} already has a settlement token",
                field="currency",
            )
        return transact(
            context,
            member,
            token_registered_answer,
            {"currency": body.currency},
            *registration_steps(context, body.currency, decimals=body.decimals),
        )

    return write.run(member, body, action)


def token_registered_answer(context: AppContext, inputs: dict[str, Any], sent: list[Sent]) -> Answer:
    """The answer of a token's registration: the registering transaction and the token."""
    currency = inputs["currency"]
    done = next(s for s in reversed(sent) if s.label.get("step") == "register")
    result = done.result
    address = next(str(e.args["token"]) for e in result.events if e.name == "SettlementTokenRegistered")
    with context.session() as session:
        out = _token_out(session, currency)
    registered = out or TokenOut(currency=currency, token=address, registered_block=result.block_number)
    return 201, TokenWrite(
        tx_hash=result.tx_hash, block_number=result.block_number, indexed=out is not None, token=registered
    )


def account_answer(context: AppContext, inputs: dict[str, Any], sent: list[Sent]) -> Answer:
    """The answer of a token movement or allowance: the transaction and the member's account."""
    result = sent[-1].result
    currency = inputs["currency"]
    token = require_token(context, currency)
    with context.session() as session:
        target = find_member(session, inputs["member_id"])
    account = _account(context, token, target, currency)
    return 200, AccountWrite(tx_hash=result.tx_hash, block_number=result.block_number, account=account)


def _movement(
    context: AppContext,
    operator: ApiMember,
    currency: str,
    body: TokenMovement,
    deposit: bool,
) -> Answer:
    token = require_token(context, currency)
    with context.session() as session:
        target = find_member(session, body.member)
        status = member_status(session, target.address)
    used = token.reference_used(body.reference)
    if used:  # each settlement-bank reference moves money once (deposits and withdrawals alike)
        raise revert_problem(
            "ReferenceAlreadyUsed",
            f"the reference {body.reference!r} was already used by a {currency} deposit or withdrawal",
            field="reference",
        )
    if deposit and status is not MemberStatus.ACTIVE:
        raise revert_problem("NotAnActiveMember", f"{target.id} is not an active member", field="member")
    if not deposit:
        balance = token.balance_of(target.address)
        if balance < body.amount:
            raise revert_problem(
                "ERC20InsufficientBalance",
                f"{target.id} holds {balance} {currency} tokens, {body.amount} cannot be paid out",
                balance=str(balance),
                needed=str(body.amount),
            )

    def call(account: LocalAccount) -> TxResult:
        if deposit:
            return token.mint(account, target.address, body.amount, body.reference)
        return token.burn(account, target.address, body.amount, body.reference)

    return transact(context, operator, account_answer, {"currency": currency, "member_id": target.id}, call)


@router.post("/v1/settlement-tokens/{currency}/deposits", response_model=AccountWrite)
def deposit(
    currency: Currency,
    body: TokenMovement,
    write: Write,
    context: Context,
    member: Operator,
) -> JSONResponse:
    """The settlement bank received `amount` from a member: mint it as settlement tokens."""
    return write.run(member, body, lambda: _movement(context, member, currency, body, deposit=True))


@router.post("/v1/settlement-tokens/{currency}/withdrawals", response_model=AccountWrite)
def withdraw(
    currency: Currency,
    body: TokenMovement,
    write: Write,
    context: Context,
    member: Operator,
) -> JSONResponse:
    """The settlement bank paid `amount` out to a member: burn that many of its tokens."""
    return write.run(member, body, lambda: _movement(context, member, currency, body, deposit=False))


@router.get("/v1/settlement-tokens/{currency}/accounts/{member_id}", response_model=AccountOut)
def get_account(currency: Currency, member_id: str, context: Context, member: CurrentMember) -> AccountOut:
    """A member's balance and the allowance it gives the ledger (itself; auditor and operator: all)."""
    token = require_token(context, currency)
    with context.session() as session:
        target = _visible_member(session, member, member_id)
    return _account(context, token, target, currency)


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
