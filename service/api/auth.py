"""API keys (random, `cc_`-prefixed, stored as sha256), the suspension gate and the role checks.

The FastAPI dependencies built on them (`CurrentMember`, `Operator`, ...) are in `service.api.deps`."""

from __future__ import annotations

import hashlib
import secrets
from typing import Annotated, Final

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from service.api.cache.callers import Caller
from service.api.context import AppContext
from service.api.problems import ProblemError
from service.db.gateway_models import ApiMember
from service.db.models import Member
from service.domain import AUDITOR, OPERATOR, MemberStatus

KEY_PREFIX = "cc_"


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(
        401, "unauthorized", "Authentication required", detail, headers={"WWW-Authenticate": "Bearer"}
    )


def unknown_key() -> ProblemError:
    return _unauthorized("unknown API key")


BEARER: Final = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    bearerFormat="cc_...",
    description="The member's API key (shown once when the member is onboarded): "
    "`Authorization: Bearer cc_...`",
)
"""The OpenAPI security scheme of every authenticated operation (the docs' "Authorize"); the
header is read by `bearer_key` itself, so that its 401 answers stay the gateway's."""


async def bearer_key(
    request: Request, _scheme: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]
) -> str:
    """The API key in `Authorization: Bearer <key>` (401 if missing or malformed); whether it is
    anybody's is for the caller to find out."""
    authorization = request.headers.get("authorization")
    if not authorization:
        raise _unauthorized("send Authorization: Bearer <api key>")
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise _unauthorized("the Authorization header must be Bearer <api key>")
    return key.strip()


REGISTRY_STATUS = func.coalesce(Member.status, int(MemberStatus.NONE))
"""The caller's status in the indexed registry (`members`, joined on the address); 0 for a gateway
member the registry does not know (the operator)."""

_CALLER = (
    select(ApiMember.id, ApiMember.address, ApiMember.roles, REGISTRY_STATUS)
    .outerjoin(Member, Member.address == ApiMember.address)
    .where(ApiMember.api_key_hash == bindparam("key_hash"))
)
_CURRENT_MEMBER = (
    select(ApiMember, REGISTRY_STATUS)
    .outerjoin(Member, Member.address == ApiMember.address)
    .where(ApiMember.api_key_hash == bindparam("key_hash"))
)

# ------------------------------------------------------------------ suspension
SUSPENDED_MAY: Final = frozenset(
    {
        ("GET", "/v1/notes"),
        ("GET", "/v1/notes/{note_id}"),
        ("GET", "/v1/settlement-tokens/{currency}/accounts/{member_id}"),
        ("PUT", "/v1/settlement-tokens/{currency}/allowance"),
        ("POST", "/v1/notes/{note_id}/settle"),
        ("POST", "/v1/roots/{root_id}/settle"),
        ("POST", "/v1/notes/{note_id}/confirm-payment"),
        ("POST", "/v1/notes/{note_id}/payment-claim/withdraw"),
        ("POST", "/v1/relay/prepare"),
        ("POST", "/v1/relay"),
    }
)
"""What a suspended member may still do (method, route), everything else being 403
`member-suspended`: read its own notes (those it holds or owes, not their trees) and its own
settlement-token account; discharge what it owes as obligor (pay or claim an off-chain payment,
settle a tree, let the ledger take its tokens for that, withdraw its own claim); confirm, as
holder, an off-chain payment made to it. The ledger's own guard (`_requireActive`) allows the same
and nothing more; a relayed request of a suspended member may call only
`SUSPENDED_LEDGER_FUNCTIONS`."""
SUSPENDED_LEDGER_FUNCTIONS: Final = frozenset(
    {"pay", "claimPayment", "withdrawPaymentClaim", "settleRoot", "confirmPayment"}
)
"""The ledger functions a suspended member may call (relayed or not)."""


def member_suspended(member_id: str) -> ProblemError:
    return ProblemError(
        403,
        "member-suspended",
        "The member is suspended",
        f"{member_id} is suspended: it may read its own notes and settlement-token account, pay or "
        "settle what it owes and confirm payments made to it, nothing else",
        member=member_id,
    )


def admit(request: Request, member_id: str, suspended: bool) -> None:
    """The one suspension gate, for every authenticated request: the member's id goes into the
    request state (access log); a suspended member is refused (403 `member-suspended`) unless the
    route is in `SUSPENDED_MAY`."""
    request.state.member_id = member_id
    if not suspended:
        return
    route = request.scope.get("route")
    if (request.method, getattr(route, "path", None)) not in SUSPENDED_MAY:
        raise member_suspended(member_id)


def find_caller(session: Session, key_hash: str) -> Caller | None:
    """The member whose API key hashes to `key_hash`, with its registry status, read now (no cache)."""
    row = session.execute(_CALLER, {"key_hash": key_hash}).first()
    return Caller(str(row[0]), str(row[1]), str(row[2]), int(row[3])) if row is not None else None


def authenticate(request: Request, context: AppContext, key: str) -> ApiMember:
    """The member whose API key is in `Authorization: Bearer <key>` (401 if unknown),
    read with its registry status in one statement on every request (no cache: a suspension or a
    new key takes effect at once, whichever process indexed it), and let through `admit`."""
    with context.session() as session:
        row = session.execute(_CURRENT_MEMBER, {"key_hash": hash_key(key)}).first()
    if row is None:
        raise unknown_key()
    member: ApiMember = row[0]
    member.suspended = int(row[1]) == MemberStatus.SUSPENDED
    admit(request, member.id, member.suspended)
    return member


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


def sees_everything(member: ApiMember | Caller) -> bool:
    """Operator and auditor see every note and account, unless suspended."""
    return not member.suspended and bool({OPERATOR, AUDITOR} & set(member.role_names))
