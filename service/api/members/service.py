"""Member use cases: onboarding, the registry, suspension (the API, the CLI and the demo seed)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from eth_account.signers.local import LocalAccount
from sqlalchemy import select
from web3 import Web3

from service.api.auth import hash_key, new_api_key
from service.api.context import AppContext
from service.api.idempotency import SECRET_FIELDS
from service.api.members.queries import find_member, member_out, member_status
from service.api.members.schemas import MemberCreated, MemberList, MemberStatusChanged
from service.api.problems import ProblemError, revert_problem
from service.api.writes import Answer, Sent, Step, transact
from service.db.gateway_models import ApiMember
from service.domain import MemberStatus, ordered_roles, role_bits
from service.ledger.types import TxResult


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


def list_members(context: AppContext) -> MemberList:
    """Every gateway member, oldest first, with its status on the ledger."""
    with context.session() as session:
        members = session.scalars(select(ApiMember).order_by(ApiMember.created_at, ApiMember.id)).all()
        return MemberList(items=[member_out(session, m) for m in members])


def change_member_status(
    context: AppContext, operator: ApiMember, member_id: str, *, suspend: bool
) -> MemberStatusChanged:
    """Suspend (or reinstate) a member on the ledger, signed by the operator's custodial key; a
    member already so, or not on the ledger, is refused before signing."""
    with context.session() as session:
        target = find_member(session, member_id)
        status = member_status(session, target.address)
    if status is MemberStatus.NONE:
        raise revert_problem("NotAMember", f"{target.id} is not a member of the registry")
    if suspend and status is MemberStatus.SUSPENDED:
        raise revert_problem("MemberNotActive", f"{target.id} is already suspended")
    if not suspend and status is MemberStatus.ACTIVE:
        raise revert_problem("MemberNotSuspended", f"{target.id} is not suspended")

    def call(op: LocalAccount) -> TxResult:
        if suspend:
            return context.ledger.suspend_member(op, target.address)
        return context.ledger.reinstate_member(op, target.address)

    _status, answer = transact(context, operator, status_changed_answer, {"member_id": target.id}, call)
    assert isinstance(answer, MemberStatusChanged)
    return answer


def status_changed_answer(context: AppContext, inputs: dict[str, Any], sent: list[Sent]) -> Answer:
    result = sent[-1].result
    with context.session() as session:
        out = member_out(session, find_member(session, inputs["member_id"]))
    return 200, MemberStatusChanged(tx_hash=result.tx_hash, block_number=result.block_number, member=out)
