"""Member use cases: onboarding, for the API, the CLI and the demo seed."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from web3 import Web3

from service.api.auth import hash_key, new_api_key
from service.api.context import AppContext
from service.api.idempotency import SECRET_FIELDS
from service.api.members.queries import member_out, member_status
from service.api.members.schemas import MemberCreated
from service.api.problems import ProblemError, revert_problem
from service.api.writes import Answer, Sent, Step, transact
from service.db.gateway_models import ApiMember
from service.domain import MemberStatus, ordered_roles, role_bits


def new_member_id() -> str:
    return "m_" + secrets.token_hex(5)


def onboard_member(
    context: AppContext, operator: ApiMember, name: str, roles: Sequence[str], address: str | None = None
) -> MemberCreated:
    """Onboard a member on the ledger and in the gateway: with `address`, a self-custodied member;
    without, a new custodial key (funded if the chain needs gas). Also used to seed the demo."""
    ordered = ordered_roles(roles)
    if address is not None:
        address = Web3.to_checksum_address(address)
        with context.session() as session:
            if session.scalars(select(ApiMember).where(ApiMember.address == address)).first() is not None:
                raise ProblemError(
                    409, "member-exists", "Already a member", f"{address} is already registered"
                )
            if member_status(session, address) is not MemberStatus.NONE:
                raise revert_problem(
                    "MemberAlreadyOnboarded", f"{address} is already onboarded on the ledger"
                )
    keystore = None
    if address is None:
        account, keystore = context.keyring.create()
        address = account.address
        context.fund(address)
    onboard_to: str = address
    inputs = {
        "member_id": new_member_id(),
        "name": name,
        "address": address,
        "roles": ordered,
        "custody": "self" if keystore is None else "custodial",
        "encrypted_key": keystore,  # as api_members keeps it: encrypted with the master secret
    }
    _status, created = transact(
        context,
        operator,
        onboarded_answer,
        inputs,
        Step(
            lambda op: context.ledger.onboard_member(op, onboard_to, role_bits(ordered)), {"step": "onboard"}
        ),
    )
    assert isinstance(created, MemberCreated)
    return created


def onboarded_answer(context: AppContext, inputs: dict[str, Any], sent: list[Sent]) -> Answer:
    """The gateway's member for the onboarding transaction, with a new API key (in this answer
    only); if an earlier attempt already made it, the member without its key (which was not kept)."""
    result = next(s.result for s in reversed(sent) if s.label.get("step") == "onboard")
    with context.session() as session:
        member = session.get(ApiMember, inputs["member_id"])
        if member is not None:
            out = member_out(session, member)
            return 201, MemberCreated(
                **out.model_dump(),
                api_key=None,
                api_key_note=SECRET_FIELDS["api_key"][1],
                tx_hash=result.tx_hash,
            )
        api_key = new_api_key()
        member = ApiMember(
            id=inputs["member_id"],
            name=inputs["name"],
            address=inputs["address"],
            roles=",".join(inputs["roles"]),
            api_key_hash=hash_key(api_key),
            custody=inputs["custody"],
            encrypted_key=inputs["encrypted_key"],
        )
        session.add(member)
        session.commit()
        out = member_out(session, member)
    return 201, MemberCreated(**out.model_dump(), api_key=api_key, tx_hash=result.tx_hash)
