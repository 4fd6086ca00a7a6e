"""Reads from SQL shared by the routes: members, parties, notes and who may see them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, or_, select, union
from sqlalchemy.orm import Session
from web3 import Web3

from service.api.auth import FINANCIER, sees_everything
from service.api.problems import ProblemError, revert_problem
from service.api.schemas import MemberOut, NoteOut
from service.db.gateway_models import ApiMember, NoteReference
from service.db.models import CreditGrant, Event, Member, Note
from service.db.provenance import NoteRow
from service.domain import MemberStatus, NoteStatus, Role


def to_datetime(unix: int) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


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


def member_ids(session: Session, addresses: Iterable[str]) -> dict[str, str]:
    wanted = set(addresses)
    if not wanted:
        return {}
    rows = session.execute(select(ApiMember.address, ApiMember.id).where(ApiMember.address.in_(wanted)))
    return {str(row[0]): str(row[1]) for row in rows}


def references(session: Session, root_ids: Iterable[int]) -> dict[int, str]:
    wanted = set(root_ids)
    if not wanted:
        return {}
    rows = session.execute(
        select(NoteReference.note_id, NoteReference.reference).where(NoteReference.note_id.in_(wanted))
    )
    return {int(row[0]): str(row[1]) for row in rows}


def notes_out(session: Session, notes: Iterable[Note | NoteRow]) -> list[NoteOut]:
    notes = list(notes)
    ids = member_ids(session, {n.holder for n in notes} | {n.obligor for n in notes})
    refs = references(session, {n.root_id for n in notes})
    return [
        NoteOut(
            id=str(n.id),
            root_id=str(n.root_id),
            parent_id=str(n.parent_id) if n.parent_id is not None else None,
            depth=n.depth,
            holder=n.holder,
            holder_member=ids.get(n.holder),
            obligor=n.obligor,
            obligor_member=ids.get(n.obligor),
            amount=str(n.amount),
            currency=n.currency,
            maturity=to_datetime(n.maturity),
            document_hash=n.document_hash,
            status=NoteStatus(n.status).name.lower(),
            frozen=bool(n.frozen),
            reference=refs.get(n.root_id),
            created_tx=n.created_tx,
            created_block=n.created_block,
        )
        for n in notes
    ]


def visibility(member: ApiMember) -> ColumnElement[bool] | None:
    """SQL condition on `notes` for the notes `member` may see (None: all of them).

    A member sees the trees (same root) of notes it holds, held (transferred away) or issued, and
    a financier also every note of an obligor it granted credit to.
    """
    if sees_everything(member):
        return None
    address = member.address
    roots = union(
        select(Note.root_id).where(Note.holder == address),
        select(Note.root_id).where(Note.obligor == address),
        select(Event.root_id).where(
            Event.name == "NoteTransferred",
            Event.args["from"].as_string() == address,
            Event.root_id.is_not(None),
        ),
    ).subquery()
    conditions: list[ColumnElement[bool]] = [Note.root_id.in_(select(roots.c.root_id))]
    if FINANCIER in member.role_names:
        conditions.append(
            Note.obligor.in_(select(CreditGrant.obligor).where(CreditGrant.financier == address))
        )
    return or_(*conditions)


def parse_note_id(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 20:
        raise note_not_found(raw)
    return int(raw)


def note_not_found(raw: str | int) -> ProblemError:
    slug, status = "note-not-found", 404
    return ProblemError(status, slug, "No such note", f"no note {raw} that you may see")


def visible_note(session: Session, member: ApiMember, note_id: int) -> Note:
    """The note, if `member` may see it; 404 otherwise (whether or not it exists)."""
    stmt = select(Note).where(Note.id == note_id)
    condition = visibility(member)
    if condition is not None:
        stmt = stmt.where(condition)
    note = session.scalars(stmt).first()
    if note is None:
        raise note_not_found(note_id)
    return note
