"""Settlement-token use cases: deploy and register a token, mint against a deposit, approve the
ledger (the API, the demo seed and tests)."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount
from sqlalchemy import select

from service.api.context import AppContext
from service.api.writes import Step, signer
from service.db.gateway_models import ApiMember
from service.domain import OPERATOR_ID
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
