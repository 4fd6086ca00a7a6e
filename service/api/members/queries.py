"""Reads of members from SQL: status in the registry, the gateway member, a party by id or address."""

from __future__ import annotations

from datetime import UTC

from sqlalchemy.orm import Session
from web3 import Web3

from service.api.members.schemas import MemberOut
from service.api.problems import ProblemError, revert_problem
from service.db.gateway_models import ApiMember
from service.db.models import Member
from service.domain import (
    MemberStatus,
    Role,
)


def member_status(session: Session, address: str) -> MemberStatus:
    row = session.get(Member, address)
    return MemberStatus(row.status) if row is not None else MemberStatus.NONE


def member_out(session: Session, member: ApiMember) -> MemberOut:
    status = member_status(session, member.address)
    label = "operator" if status is MemberStatus.NONE and "operator" in member.role_names else status.name
    return MemberOut(
        id=member.id,
        name=member.name,
        address=member.address,
        roles=member.role_names,
        custody="self" if member.custody == "self" else "custodial",
        status=label.lower(),
        created_at=member.created_at if member.created_at.tzinfo else member.created_at.replace(tzinfo=UTC),
    )


def find_member(session: Session, member_id: str) -> ApiMember:
    member = session.get(ApiMember, member_id)
    if member is None:
        raise ProblemError(404, "member-not-found", "No such member", f"no member {member_id!r}")
    return member


def resolve_party(session: Session, party: str, field: str) -> str:
    """The checksummed address a party names (member id or address); 422 if it names nobody."""
    if party.startswith("0x"):
        if not Web3.is_address(party):
            raise ProblemError(
                422, "invalid-address", "Not an address", f"{field}: {party!r} is not an address"
            )
        return Web3.to_checksum_address(party)
    member = session.get(ApiMember, party)
    if member is None:
        raise revert_problem("NotAMember", f"{field}: no member {party!r}", field=field)
    return member.address


def require_active_member(session: Session, address: str, field: str, needs: Role | None = None) -> None:
    """Pre-check that a recipient is an active member of the registry (as indexed), with one of the
    roles in `needs` if given."""
    status = member_status(session, address)
    row = session.get(Member, address)
    if needs is not None and row is not None and not Role(row.roles) & needs:
        raise revert_problem("MissingRole", f"{field}: {address} cannot hold notes", field=field)
    if status is MemberStatus.NONE:
        raise revert_problem("NotAMember", f"{field}: {address} is not a member", field=field)
    if status is MemberStatus.SUSPENDED:
        raise revert_problem("MemberNotActive", f"{field}: {address} is suspended", field=field)


def require_acting_member_active(session: Session, member: ApiMember) -> None:
    """409 `member-not-active` (the contract's MemberNotActive) if the acting member is suspended on
    the ledger."""
    if member_status(session, member.address) is MemberStatus.SUSPENDED:
        raise revert_problem("MemberNotActive", f"{member.id} is suspended")
