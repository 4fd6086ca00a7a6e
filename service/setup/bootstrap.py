"""Setting a gateway up: deploy the ledger with a custodial operator key, and register the operator
as the first API member (used by `credchain init` / `credchain run` and by the tests)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.api.auth import hash_key, new_api_key
from service.db.gateway_models import ApiMember
from service.db.migrate import upgrade
from service.db.session import make_engine, make_session_factory
from service.domain import OPERATOR, OPERATOR_ID
from service.ledger.chain import Chain
from service.ledger.client import LedgerClient
from service.ledger.forwarder import deploy_with_forwarder
from service.ledger.keyring import Keyring
from service.settings import Settings


class NotTheOperator(ValueError):
    """The operator key given for an existing ledger is not its operator's."""


@dataclass(frozen=True)
class Deployment:
    contract_address: str
    block_number: int
    operator: LocalAccount
    keystore: dict[str, object]


def deploy(chain: Chain, keyring: Keyring, funding_wei: int) -> Deployment:
    """A new custodial operator key (funded if the chain needs gas) and a ledger it operates, which
    trusts a forwarder deployed with it (relay of self-custodied members' signed requests)."""
    operator, keystore = keyring.create()
    if chain.funder is not None and funding_wei:
        chain.fund(operator.address, funding_wei)
    # the index starts at the first deployment block: the ledger's constructor events (operator,
    # maximum tenor) come before the evidence registry's deployment and naming
    first_block = int(chain.w3.eth.block_number) + 1
    ledger, _ = deploy_with_forwarder(chain.w3, operator, operator.address)
    return Deployment(ledger.address, first_block, operator, keystore)


def register_operator(session: Session, address: str, keystore: dict[str, object] | None) -> str:
    """Add (or re-key) the operator member; returns its new API key (shown once)."""
    api_key = new_api_key()
    member = session.scalars(select(ApiMember).where(ApiMember.id == OPERATOR_ID)).first()
    if member is None:
        member = ApiMember(
            id=OPERATOR_ID,
            name="Platform operator",
            address=address,
            roles=OPERATOR,
            api_key_hash=hash_key(api_key),
            custody="custodial" if keystore is not None else "self",
            encrypted_key=keystore,
        )
        session.add(member)
    else:
        member.api_key_hash = hash_key(api_key)
    session.commit()
    return api_key


class UnknownMember(LookupError):
    """No gateway member has that id."""


def reissue_api_key(session: Session, member_id: str) -> str:
    """Give a member a new API key (the old one stops working at once); returns it (shown once)."""
    member = session.get(ApiMember, member_id)
    if member is None:
        raise UnknownMember(member_id)
    api_key = new_api_key()
    member.api_key_hash = hash_key(api_key)
    session.commit()
    return api_key


def ensure_sqlite_dir(url: str) -> None:
    """SQLite creates the file, not its directory (the default lives in var/)."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and ":memory:" not in url:
        Path(url[len(prefix) :]).parent.mkdir(parents=True, exist_ok=True)


def bootstrap_gateway(settings: Settings, chain: Chain, operator_key: str | None) -> tuple[Settings, str]:
    """Migrate, deploy the ledger if there is no contract address, register the operator; returns
    the completed settings and the operator's API key. `operator_key` (of an existing ledger) must
    be its operator's: `NotTheOperator` otherwise."""
    ensure_sqlite_dir(settings.database_url)
    upgrade(settings.database_url, settings.database_schema)
    keyring = Keyring(settings.master_secret.get_secret_value(), settings.key_kdf_iterations)
    if settings.contract_address is None:
        deployment = deploy(chain, keyring, settings.funding_wei)
        settings = settings.model_copy(
            update={"contract_address": deployment.contract_address, "from_block": deployment.block_number}
        )
        operator_address: str = deployment.operator.address
        keystore: dict[str, object] | None = deployment.keystore
    else:
        operator_address = LedgerClient(chain.w3, settings.contract_address).operator()
        keystore = None
        if operator_key:
            account: LocalAccount = Account.from_key(operator_key)
            if account.address != operator_address:
                raise NotTheOperator(f"CREDCHAIN_OPERATOR_KEY is not the operator {operator_address}")
            keystore = keyring.encrypt(account)
    engine = make_engine(settings.database_url, schema=settings.database_schema)
    try:
        with make_session_factory(engine)() as session:
            api_key = register_operator(session, operator_address, keystore)
    finally:
        engine.dispose()
    return settings, api_key


def relayer_account(settings: Settings, chain: Chain) -> tuple[LocalAccount, bool]:
    """The relayer's account: CREDCHAIN_RELAYER_KEY's, or a new one (True); funded with
    `funding_wei` by the chain's funder if it has no ether. It is a plain account with gas only,
    never the operator's key."""
    key = settings.relayer_key
    account: LocalAccount = Account.from_key(key.get_secret_value()) if key is not None else Account.create()
    if chain.funder is not None and settings.funding_wei and not chain.w3.eth.get_balance(account.address):
        chain.fund(account.address, settings.funding_wei)
    return account, key is None
