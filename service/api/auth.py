"""API keys (random, `cc_`-prefixed, stored as sha256) and the per-endpoint role checks."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy import select

from service.api.context import AppContext
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


def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


Context = Annotated[AppContext, Depends(get_context)]


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(
        401, "unauthorized", "Authentication required", detail, headers={"WWW-Authenticate": "Bearer"}
    )


def current_member(
    request: Request, context: Context, authorization: Annotated[str | None, Header()] = None
) -> ApiMember:
    """The member whose API key is in `Authorization: Bearer <key>` (401 if missing or unknown);
    its id goes into the request state for the access log."""
    if not authorization:
        raise _unauthorized("send Authorization: Bearer <api key>")
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise _unauthorized("the Authorization header must be Bearer <api key>")
    with context.session() as session:
        member = session.scalars(
            select(ApiMember).where(ApiMember.api_key_hash == hash_key(key.strip()))
        ).first()
    if member is None:
        raise _unauthorized("unknown API key")
    request.state.member_id = member.id
    return member


CurrentMember = Annotated[ApiMember, Depends(current_member)]


def require_role(member: ApiMember, *roles: str) -> None:
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


def sees_everything(member: ApiMember) -> bool:
    return bool({OPERATOR, AUDITOR} & set(member.role_names))
