"""API keys (random, `cc_`-prefixed, stored as sha256) and the per-endpoint role checks."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from service.api.context import AppContext, Caller
from service.api.problems import ProblemError
from service.db.gateway_models import ApiMember

KEY_PREFIX = "cc_"
OPERATOR = "operator"
CORE_ENTERPRISE = "core_enterprise"
SUPPLIER = "supplier"
FINANCIER = "financier"
AUDITOR = "auditor"
ONBOARDABLE_ROLES = (CORE_ENTERPRISE, SUPPLIER, FINANCIER, AUDITOR)


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


Context = Annotated[AppContext, Depends(get_context)]


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(
        401, "unauthorized", "Authentication required", detail, headers={"WWW-Authenticate": "Bearer"}
    )


def unknown_key() -> ProblemError:
    return _unauthorized("unknown API key")


async def bearer_key(authorization: Annotated[str | None, Header()] = None) -> str:
    """The API key in `Authorization: Bearer <key>` (401 if missing or malformed); whether it is
    anybody's is for the caller to find out."""
    if not authorization:
        raise _unauthorized("send Authorization: Bearer <api key>")
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise _unauthorized("the Authorization header must be Bearer <api key>")
    return key.strip()


BearerKey = Annotated[str, Depends(bearer_key)]

_CALLER = select(ApiMember.id, ApiMember.address, ApiMember.roles).where(
    ApiMember.api_key_hash == bindparam("key_hash")
)


def find_caller(session: Session, key_hash: str) -> Caller | None:
    """The member whose API key hashes to `key_hash`, read now (no cache)."""
    row = session.execute(_CALLER, {"key_hash": key_hash}).first()
    return Caller(str(row[0]), str(row[1]), str(row[2])) if row is not None else None


def current_member(request: Request, context: Context, key: BearerKey) -> ApiMember:
    """The member whose API key is in `Authorization: Bearer <key>` (401 if missing or unknown);
    its id goes into the request state for the access log."""
    with context.session() as session:
        member = session.scalars(select(ApiMember).where(ApiMember.api_key_hash == hash_key(key))).first()
    if member is None:
        raise unknown_key()
    request.state.member_id = member.id
    return member


CurrentMember = Annotated[ApiMember, Depends(current_member)]


def require_role(member: ApiMember | Caller, *roles: str) -> None:
    """403 unless `member` has one of `roles`."""
    if not set(roles) & set(member.role_names):
        raise ProblemError(
            403,
            "forbidden",
            "Your roles do not allow this",
            f"this needs one of the roles: {', '.join(roles)}",
            required_roles=list(roles),
        )


def role_dependency(*roles: str) -> Callable[[ApiMember], ApiMember]:
    def check(member: CurrentMember) -> ApiMember:
        require_role(member, *roles)
        return member

    return check


def sees_everything(member: ApiMember | Caller) -> bool:
    return bool({OPERATOR, AUDITOR} & set(member.role_names))
