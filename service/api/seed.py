"""The demo consortium of the embedded gateway, onboarded through the same code as the API
(custodial keys, the bank's credit-limit grant), and the credentials file that hands its API keys
to whoever drives the demo (`credchain run` writes `var/demo-credentials.json`)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from eth_account.signers.local import LocalAccount
from sqlalchemy import select

from service.api.auth import hash_key
from service.api.bootstrap import OPERATOR_ID
from service.api.context import AppContext
from service.api.routes.credit_limits import grant_credit_limit
from service.api.routes.credit_relationships import approve_financier
from service.api.routes.ledger_settings import apply_min_part_amount
from service.api.routes.members import onboard_member
from service.api.writes import Step, signer
from service.db.gateway_models import ApiMember
from service.domain import AUDITOR, CORE_ENTERPRISE, FINANCIER, SUPPLIER
from service.ledger.client import SettlementTokenClient, TxResult, tx_result
from service.secret_files import write_private_text

DEFAULT_CREDENTIALS = Path("var/demo-credentials.json")
ACME_CREDIT_LIMIT = 50_000_000_00  # USD 50,000,000.00 in minor units
DEMO_DEPOSITS = {"acme": 50_000_000_00, "bank": 10_000_000_00}
"""Settlement tokens (USD minor units) minted to demo members against deposits, and approved to
the ledger: Acme Motors pays at maturity, First Bank pays discount prices."""

DEMO_MIN_PART_AMOUNTS = {"USD": 100_00, "EUR": 100_00, "CNY": 100_00}
"""The demo ledger's minimum part amount per currency (100.00): no note or split part below it. The
contract's default is 0 (no minimum: ledgers deployed before the rule behave as they did); an
operator sets its own with `credchain ledger-settings min-part-amount` or the API."""

# short key -> (name, roles), in onboarding order
DEMO_MEMBERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "acme": ("Acme Motors", (CORE_ENTERPRISE,)),
    "bank": ("First Bank", (FINANCIER,)),
    "gearbox": ("Gearbox Ltd", (SUPPLIER,)),
    "castings": ("Castings Co", (SUPPLIER,)),
    "bearings": ("Bearings Inc", (SUPPLIER,)),
    "auditor": ("Audit Partners", (AUDITOR,)),
}


@dataclass(frozen=True)
class Credential:
    id: str
    name: str
    roles: list[str]
    address: str
    api_key: str


def seed_demo(context: AppContext, operator_api_key: str) -> dict[str, Credential]:
    """Onboard the demo members with custodial keys, have Acme Motors approve First Bank as its
    financier and First Bank grant Acme its limit; returns every demo member's credentials (the
    operator's included)."""
    with context.session() as session:
        operator = session.scalars(select(ApiMember).where(ApiMember.id == OPERATOR_ID)).one()
    if operator.api_key_hash != hash_key(operator_api_key):
        raise ValueError("operator_api_key is not the operator's API key")
    credentials = {
        "operator": Credential(
            operator.id, operator.name, list(operator.role_names), operator.address, operator_api_key
        )
    }
    for short, (name, roles) in DEMO_MEMBERS.items():
        created = onboard_member(context, operator, name, roles)
        assert created.api_key is not None  # a first onboarding always shows it
        credentials[short] = Credential(created.id, name, list(roles), created.address, created.api_key)
    with context.session() as session:
        bank = session.scalars(select(ApiMember).where(ApiMember.id == credentials["bank"].id)).one()
        acme = session.scalars(select(ApiMember).where(ApiMember.id == credentials["acme"].id)).one()
    approve_financier(context, acme, credentials["bank"].id)
    grant_credit_limit(context, bank, credentials["acme"].id, ACME_CREDIT_LIMIT)
    with context.session() as session:
        operator = session.scalars(select(ApiMember).where(ApiMember.id == OPERATOR_ID)).one()
    for currency, minimum in DEMO_MIN_PART_AMOUNTS.items():
        apply_min_part_amount(context, operator, currency, minimum)
    setup_settlement_token(context, "USD")
    for short, amount in DEMO_DEPOSITS.items():
        deposit(context, credentials[short].id, amount, f"demo deposit {short}")
        approve_ledger(context, credentials[short].id, amount)
    return credentials


def _member(context: AppContext, member_id: str) -> ApiMember:
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
    operator = signer(context, _member(context, OPERATOR_ID))
    with context.write_lock():
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
    operator = signer(context, _member(context, OPERATOR_ID))
    address = _member(context, member_id).address
    with context.write_lock():
        result = token.mint(operator, address, amount, reference)
        context.wait_indexed(result.block_number)


def approve_ledger(context: AppContext, member_id: str, amount: int, currency: str = "USD") -> None:
    """A custodial member allows the ledger to take up to `amount` of its settlement tokens (for
    discount prices and payments at maturity)."""
    token = context.settlement_token(currency)
    if token is None:
        raise LookupError(f"no settlement token is registered for {currency}")
    account = signer(context, _member(context, member_id))
    with context.write_lock():
        result = token.approve(account, context.ledger.address, amount)
        context.wait_indexed(result.block_number)


def write_credentials(path: Path, credentials: dict[str, Credential]) -> Path:
    """`credentials` as a JSON object keyed by short name, readable by the owner only (0600, an
    existing file's mode replaced); a symbolic link at `path` is refused (UnsafeSecretPath) and
    nothing is written through it (`service.secret_files`)."""
    text = json.dumps({short: asdict(c) for short, c in credentials.items()}, indent=2) + "\n"
    return write_private_text(path, text)
