"""/v1/members: onboarding (custodial or self-custodied), the registry, suspension."""

from __future__ import annotations

from typing import Any

from eth_account.signers.local import LocalAccount
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import select

from service.api.context import AppContext
from service.api.deps import Context, CurrentMember, IdempotentWrite, Operator, Write
from service.api.members.queries import find_member, member_out, member_status
from service.api.members.schemas import (
    MemberCreate,
    MemberCreated,
    MemberList,
    MemberOut,
    MemberStatusChanged,
)
from service.api.members.service import onboard_member
from service.api.problems import revert_problem
from service.api.schemas import Empty
from service.api.writes import Answer, Sent, transact
from service.db.gateway_models import ApiMember
from service.domain import MemberStatus
from service.ledger.types import TxResult

router = APIRouter(prefix="/v1/members", tags=["members"])


@router.post("", status_code=201, response_model=MemberCreated)
def onboard(
    body: MemberCreate,
    write: Write,
    context: Context,
    operator: Operator,
) -> JSONResponse:
    """Onboard a member; its API key is in this answer only."""

    def action() -> tuple[int, MemberCreated]:
        return 201, onboard_member(context, operator, body.name, body.roles, body.address)

    return write.run(operator, body, action)


@router.get("", response_model=MemberList)
def list_members(context: Context, _member: CurrentMember) -> MemberList:
    with context.session() as session:
        members = session.scalars(select(ApiMember).order_by(ApiMember.created_at, ApiMember.id)).all()
        return MemberList(items=[member_out(session, m) for m in members])


@router.get("/{member_id}", response_model=MemberOut)
def get_member(member_id: str, context: Context, _member: CurrentMember) -> MemberOut:
    with context.session() as session:
        return member_out(session, find_member(session, member_id))


def _change_status(
    context: Context,
    operator: ApiMember,
    member_id: str,
    write: IdempotentWrite,
    suspend: bool,
) -> JSONResponse:
    def action() -> Answer:
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

        return transact(context, operator, status_changed_answer, {"member_id": target.id}, call)

    return write.run(operator, None, action)


@router.post("/{member_id}/suspend", response_model=MemberStatusChanged)
def suspend(
    member_id: str,
    write: Write,
    context: Context,
    operator: Operator,
    body: Empty | None = None,
) -> JSONResponse:
    return _change_status(context, operator, member_id, write, suspend=True)


@router.post("/{member_id}/reinstate", response_model=MemberStatusChanged)
def reinstate(
    member_id: str,
    write: Write,
    context: Context,
    operator: Operator,
    body: Empty | None = None,
) -> JSONResponse:
    return _change_status(context, operator, member_id, write, suspend=False)


def status_changed_answer(context: AppContext, inputs: dict[str, Any], sent: list[Sent]) -> Answer:
    result = sent[-1].result
    with context.session() as session:
        out = member_out(session, find_member(session, inputs["member_id"]))
    return 200, MemberStatusChanged(tx_hash=result.tx_hash, block_number=result.block_number, member=out)
