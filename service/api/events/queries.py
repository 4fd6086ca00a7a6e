"""Reading the event log for a member: a page after a cursor, one event by seq."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.api.events.schemas import EventOut, EventParty, LedgerPosition
from service.api.events.visibility import event_visibility
from service.api.problems import ProblemError
from service.db.event_models import DomainEvent
from service.db.gateway_models import ApiMember
from service.events.types import EVENT_TYPES

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
MAX_WAIT_SECONDS = 30.0


def parse_types(raw: str | None) -> tuple[str, ...] | None:
    """`types=a,b` as a tuple of known event types (None: every type); 422 for an unknown one."""
    if raw is None:
        return None
    types = tuple(dict.fromkeys(t.strip() for t in raw.split(",") if t.strip()))
    unknown = [t for t in types if t not in EVENT_TYPES]
    if unknown or not types:
        raise ProblemError(
            422,
            "invalid-request",
            "The request is not valid",
            f"unknown event type(s) {unknown}; types is a comma-separated list of {list(EVENT_TYPES)}",
        )
    return types


def event_not_found(raw: object) -> ProblemError:
    return ProblemError(404, "event-not-found", "No such event", f"no event {raw} that you may see")


def events_after(
    session: Session, member: ApiMember, after: int, limit: int, types: Sequence[str] | None
) -> list[EventOut]:
    """The events after seq `after` that `member` may see, `limit` at most, in seq order."""
    stmt = select(DomainEvent).where(DomainEvent.seq > after).order_by(DomainEvent.seq).limit(limit)
    if types is not None:
        stmt = stmt.where(DomainEvent.type.in_(types))
    condition = event_visibility(member)
    if condition is not None:
        stmt = stmt.where(condition)
    return events_out(session, list(session.scalars(stmt)))


def event_by_seq(session: Session, member: ApiMember, seq: int) -> EventOut:
    stmt = select(DomainEvent).where(DomainEvent.seq == seq)
    condition = event_visibility(member)
    if condition is not None:
        stmt = stmt.where(condition)
    event = session.scalars(stmt).first()
    if event is None:
        raise event_not_found(seq)
    return events_out(session, [event])[0]


def events_out(session: Session, events: Sequence[DomainEvent]) -> list[EventOut]:
    """The API form of `events`, with the gateway ids and names of their subjects and recipients
    (one query)."""
    addresses = {a for e in events for a in (e.subject, e.recipient) if a is not None}
    members: dict[str, tuple[str, str]] = {}
    if addresses:
        for address, member_id, name in session.execute(
            select(ApiMember.address, ApiMember.id, ApiMember.name).where(ApiMember.address.in_(addresses))
        ):
            members[address] = (member_id, name)

    def party(address: str | None) -> EventParty | None:
        if address is None:
            return None
        member_id, name = members.get(address, (None, None))
        return EventParty(address=address, member_id=member_id, name=name)

    return [
        EventOut(
            seq=e.seq,
            type=e.type,
            occurred_at=e.occurred_at if e.occurred_at.tzinfo else e.occurred_at.replace(tzinfo=UTC),
            position=None
            if e.block_number is None or e.block_hash is None or e.tx_hash is None or e.log_index is None
            else LedgerPosition(
                block_number=e.block_number, block_hash=e.block_hash, tx_hash=e.tx_hash, log_index=e.log_index
            ),
            note_id=_text(e.note_id),
            root_id=_text(e.root_id),
            offer_id=_text(e.offer_id),
            alert_id=_text(e.alert_id),
            subject=party(e.subject),
            recipient=party(e.recipient),
            data=e.data,
            retracts=e.retracts,
            retracted_by=e.retracted_by,
        )
        for e in events
    ]


def _text(value: int | None) -> str | None:
    return None if value is None else str(value)
