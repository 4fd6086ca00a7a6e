"""/v1/members: onboarding (custodial or self-custodied), the registry, suspension."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.api.deps import Context, CurrentMember, IdempotentWrite, Operator, Write
from service.api.members.queries import find_member, member_out
from service.api.members.schemas import (
    MemberCreate,
    MemberCreated,
    MemberList,
    MemberOut,
    MemberStatusChanged,
)
from service.api.members.service import (  # noqa: F401 (idempotency journals recorded before it moved name it here)
    change_member_status,
    onboard_member,
    status_changed_answer,
)
from service.api.members.service import list_members as all_members
from service.api.schemas import Empty
from service.api.writes import Answer
from service.db.gateway_models import ApiMember

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
    return all_members(context)


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
        return 200, change_member_status(context, operator, member_id, suspend=suspend)

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
