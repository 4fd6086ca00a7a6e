"""Setting a gateway up: deploy the ledger with a custodial operator key, and register the operator
as the first API member (used by `credchain init` / `credchain run` and by the tests)."""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.api.auth import hash_key, new_api_key
from service.db.gateway_models import ApiMember
from service.domain import OPERATOR, OPERATOR_ID
from service.ledger.chain import Chain
from service.ledger.client import deploy_with_forwarder
from service.ledger.keyring import Keyring


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
    ledger, _ = deploy_with_forwarder(chain.w3, operator, operator.address)
    block = int(chain.w3.eth.block_number)
    return Deployment(ledger.address, block, operator, keystore)


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
