"""Web console sessions, kept server-side (`console_sessions`): the browser holds an opaque random
token (an HttpOnly, SameSite=Strict cookie); the table holds its SHA-256, the member, the session's
CSRF token (synchronizer token of every form) and when it ends. A session lasts at most
`console_session_seconds` from sign-in; a member has at most `console_sessions_per_member` (a new
sign-in ends the oldest); signing out deletes the row, so the cookie is worth nothing after."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from service.api.auth import REGISTRY_STATUS
from service.api.context import AppContext
from service.db.gateway_models import ApiMember, ConsoleSession
from service.db.models import Member
from service.domain import MemberStatus


@dataclass(frozen=True)
class SessionUser:
    """The signed-in member of a console request (read with its registry status), and its session."""

    member: ApiMember
    csrf_token: str
    token_hash: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def open_session(context: AppContext, member_id: str) -> str:
    """A new session of `member_id`: its token (for the cookie only). Expired sessions (anybody's)
    are deleted, and the member's beyond the bound end, oldest first."""
    token = secrets.token_urlsafe(32)
    now = _now()
    settings = context.settings
    with context.session() as session:
        session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= now))  # anybody's ended
        session.add(
            ConsoleSession(
                token_hash=_hash(token),
                member_id=member_id,
                csrf_token=secrets.token_urlsafe(32),
                created_at=now,
                expires_at=now + timedelta(seconds=settings.console_session_seconds),
            )
        )
        session.flush()
        kept = session.scalars(
            select(ConsoleSession.token_hash)
            .where(ConsoleSession.member_id == member_id)
            .order_by(ConsoleSession.created_at.desc(), ConsoleSession.token_hash)
            .limit(settings.console_sessions_per_member)
        ).all()
        session.execute(
            delete(ConsoleSession).where(
                ConsoleSession.member_id == member_id, ConsoleSession.token_hash.not_in(kept)
            )
        )
        session.commit()
    return token


_SESSION_MEMBER = (
    select(ConsoleSession, ApiMember, REGISTRY_STATUS)
    .join(ApiMember, ApiMember.id == ConsoleSession.member_id)
    .outerjoin(Member, Member.address == ApiMember.address)
)


def find_session(context: AppContext, token: str) -> SessionUser | None:
    """The live session of `token` and its member, or None (unknown, ended or expired)."""
    with context.session() as session:
        row = session.execute(_SESSION_MEMBER.where(ConsoleSession.token_hash == _hash(token))).first()
    if row is None:
        return None
    record, member, status = row
    if _aware(record.expires_at) <= _now():
        return None
    member.suspended = int(status) == MemberStatus.SUSPENDED
    return SessionUser(member=member, csrf_token=record.csrf_token, token_hash=record.token_hash)


def close_session(context: AppContext, token_hash: str) -> None:
    """End a session (sign-out): its cookie no longer signs anybody in."""
    with context.session() as session:
        session.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == token_hash))
        session.commit()


def member_sessions(context: AppContext, member_id: str) -> int:
    """How many sessions `member_id` has open (expired ones included until its next sign-in)."""
    with context.session() as session:
        return len(
            session.scalars(
                select(ConsoleSession.token_hash).where(ConsoleSession.member_id == member_id)
            ).all()
        )
