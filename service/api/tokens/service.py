"""Settlement-token use cases: deploy and register a token, mint against a deposit and burn on a
payout, approve the ledger (the API, the CLI, the demo seed and tests)."""

from __future__ import annotations

from typing import Any

from eth_account.signers.local import LocalAccount
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.api.context import AppContext
from service.api.financing.queries import require_token
from service.api.members.queries import find_member, member_status
from service.api.problems import revert_problem
from service.api.tokens.schemas import AccountOut, AccountWrite, TokenList, TokenOut, TokenWrite
from service.api.writes import Answer, Sent, Step, signer, transact
from service.db.gateway_models import ApiMember
from service.db.models import SettlementToken
from service.domain import OPERATOR_ID, MemberStatus
from service.ledger.client import SettlementTokenClient
from service.ledger.sender import tx_result
from service.ledger.types import TxResult


def member_by_id(context: AppContext, member_id: str) -> ApiMember:
    with context.session() as session:
        return session.scalars(select(ApiMember).where(ApiMember.id == member_id)).one()


def setup_settlement_token(context: AppContext, currency: str = "USD") -> SettlementTokenClient:
    """Deploy the settlement token of `currency` with the operator's key and register it with the
    ledger (once: an already registered token is returned as is)."""
    existing = context.settlement_token(currency)
    if existing is not None:
        return existing
    return register_settlement_token(context, currency)[0]


def register_settlement_token(
    context: AppContext, currency: str, decimals: int = 2
) -> tuple[SettlementTokenClient, TxResult]:
    """Deploy a new settlement token of `currency` (minor-unit `decimals`) with the operator's key
    and register it with the ledger; the registration transaction is returned with it."""
    operator = signer(context, member_by_id(context, OPERATOR_ID))
    token = SettlementTokenClient.deploy(context.ledger, operator, currency, decimals=decimals)
    result = context.ledger.set_settlement_token(operator, currency, token.address)
    context.wait_indexed(result.block_number)
    registered = context.settlement_token(currency)
    assert registered is not None
    return registered, result


def registration_steps(context: AppContext, currency: str, decimals: int = 2) -> list[Step]:
    """The two transactions registering a new settlement token of `currency`, for
    `service.api.writes.transact`: deploy it, then register it with the ledger."""
    deployed: list[str] = []

    def deploy(account: LocalAccount) -> TxResult:
        data = SettlementTokenClient.deployment_data(context.ledger, currency, decimals=decimals)
        receipt = context.ledger.sender.send(account, to=None, data=data)
        deployed.append(str(receipt["contractAddress"]))
        return tx_result(receipt, {})

    def register(account: LocalAccount) -> TxResult:
        return context.ledger.set_settlement_token(account, currency, deployed[-1])

    def deployed_before(result: TxResult) -> None:
        assert result.contract_address is not None
        deployed.append(result.contract_address)

    return [
        Step(deploy, {"step": "deploy"}, resumed=deployed_before),
        Step(register, {"step": "register"}),
    ]


def token_out(session: Session, currency: str) -> TokenOut | None:
    row = session.get(SettlementToken, currency)
    if row is None:
        return None
    return TokenOut(currency=row.currency, token=row.token, registered_block=row.registered_block)


def registered_tokens(context: AppContext) -> TokenList:
    """Every registered settlement token, by currency."""
    with context.session() as session:
        rows = session.scalars(select(SettlementToken).order_by(SettlementToken.currency)).all()
    return TokenList(
        items=[
            TokenOut(currency=r.currency, token=r.token, registered_block=r.registered_block) for r in rows
        ]
    )


def apply_registration(
    context: AppContext, operator: ApiMember, currency: str, decimals: int = 2
) -> TokenWrite:
    """Deploy the settlement token of `currency` and register it with the ledger, signed by the
    operator's custodial key (once per currency: a registered currency is refused)."""
    if context.settlement_token(currency) is not None:
        raise revert_problem(
            "SettlementTokenAlreadySet", f"{currency} already has a settlement token", field="currency"
        )
    _status, answer = transact(
        context,
        operator,
        token_registered_answer,
        {"currency": currency},
        *registration_steps(context, currency, decimals=decimals),
    )
    assert isinstance(answer, TokenWrite)
    return answer


def token_registered_answer(context: AppContext, inputs: dict[str, Any], sent: list[Sent]) -> Answer:
    """The answer of a token's registration: the registering transaction and the token."""
    currency = inputs["currency"]
    done = next(s for s in reversed(sent) if s.label.get("step") == "register")
    result = done.result
    address = next(str(e.args["token"]) for e in result.events if e.name == "SettlementTokenRegistered")
    with context.session() as session:
        out = token_out(session, currency)
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
    account = account_out(context, token, target, currency)
    return 200, AccountWrite(tx_hash=result.tx_hash, block_number=result.block_number, account=account)


def account_out(
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


def apply_movement(
    context: AppContext,
    operator: ApiMember,
    currency: str,
    member_id: str,
    amount: int,
    reference: str,
    deposit: bool,
) -> AccountWrite:
    """The operator (the settlement bank) mints `amount` of `currency`'s settlement tokens to a member
    against a deposit (`deposit`), or burns them on a payout, under the bank's `reference` (each
    moves money once); refusals are answered before signing."""
    token = require_token(context, currency)
    with context.session() as session:
        target = find_member(session, member_id)
        status = member_status(session, target.address)
    used = token.reference_used(reference)
    if used:  # each settlement-bank reference moves money once (deposits and withdrawals alike)
        raise revert_problem(
            "ReferenceAlreadyUsed",
            f"the reference {reference!r} was already used by a {currency} deposit or withdrawal",
            field="reference",
        )
    if deposit and status is not MemberStatus.ACTIVE:
        raise revert_problem("NotAnActiveMember", f"{target.id} is not an active member", field="member")
    if not deposit:
        balance = token.balance_of(target.address)
        if balance < amount:
            raise revert_problem(
                "ERC20InsufficientBalance",
                f"{target.id} holds {balance} {currency} tokens, {amount} cannot be paid out",
                balance=str(balance),
                needed=str(amount),
            )

    def call(account: LocalAccount) -> TxResult:
        if deposit:
            return token.mint(account, target.address, amount, reference)
        return token.burn(account, target.address, amount, reference)

    _status, answer = transact(
        context, operator, account_answer, {"currency": currency, "member_id": target.id}, call
    )
    assert isinstance(answer, AccountWrite)
    return answer


def deposit(context: AppContext, member_id: str, amount: int, reference: str, currency: str = "USD") -> None:
    """The operator (the settlement bank) mints `amount` settlement tokens to a member against a
    deposit with `reference`."""
    token = context.settlement_token(currency)
    if token is None:
        raise LookupError(f"no settlement token is registered for {currency}")
    operator = signer(context, member_by_id(context, OPERATOR_ID))
    address = member_by_id(context, member_id).address
    result = token.mint(operator, address, amount, reference)
    context.wait_indexed(result.block_number)


def approve_ledger(context: AppContext, member_id: str, amount: int, currency: str = "USD") -> None:
    """A custodial member allows the ledger to take up to `amount` of its settlement tokens (for
    discount prices and payments at maturity)."""
    token = context.settlement_token(currency)
    if token is None:
        raise LookupError(f"no settlement token is registered for {currency}")
    account = signer(context, member_by_id(context, member_id))
    result = token.approve(account, context.ledger.address, amount)
    context.wait_indexed(result.block_number)
