"""The demo consortium of the embedded gateway, onboarded through the same code as the API
(custodial keys, the bank's credit-limit grant), and the credentials file that hands its API keys
to whoever drives the demo (`credchain run` writes `var/demo-credentials.json`)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import select

from service.api.auth import AUDITOR, CORE_ENTERPRISE, FINANCIER, SUPPLIER, hash_key
from service.api.bootstrap import OPERATOR_ID
from service.api.context import AppContext
from service.api.routes.credit_limits import grant_credit_limit
from service.api.routes.members import onboard_member
from service.db.gateway_models import ApiMember

DEFAULT_CREDENTIALS = Path("var/demo-credentials.json")
ACME_CREDIT_LIMIT = 50_000_000_00  # USD 50,000,000.00 in minor units

# short key -> (name, roles), in onboarding order
DEMO_MEMBERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "acme": ("Acme Motors", (CORE_ENTERPRISE,)),
    "bank": ("First Bank", (FINANCIER,)),
    "gearbox": ("Gearbox Ltd", (SUPPLIER,)),
    "castings": ("Castings Co", (SUPPLIER,)),
    "bearings": ("Bearings Inc", (SUPPLIER,)),
    "auditor": ("Audit Partners", (AUDITOR,)),
}


@dataclass(frozen=True)
class Credential:
    id: str
    name: str
    roles: list[str]
    address: str
    api_key: str


def seed_demo(context: AppContext, operator_api_key: str) -> dict[str, Credential]:
    """Onboard the demo members with custodial keys and have First Bank grant Acme Motors its
    limit; returns every demo member's credentials (the operator's included)."""
    with context.session() as session:
        operator = session.scalars(select(ApiMember).where(ApiMember.id == OPERATOR_ID)).one()
    if operator.api_key_hash != hash_key(operator_api_key):
        raise ValueError("operator_api_key is not the operator's API key")
    credentials = {
        "operator": Credential(
            operator.id, operator.name, list(operator.role_names), operator.address, operator_api_key
        )
    }
    for short, (name, roles) in DEMO_MEMBERS.items():
        created = onboard_member(context, operator, name, roles)
        credentials[short] = Credential(created.id, name, list(roles), created.address, created.api_key)
    with context.session() as session:
        bank = session.scalars(select(ApiMember).where(ApiMember.id == credentials["bank"].id)).one()
    grant_credit_limit(context, bank, credentials["acme"].id, ACME_CREDIT_LIMIT)
    return credentials


def write_credentials(path: Path, credentials: dict[str, Credential]) -> Path:
    """`credentials` as a JSON object keyed by short name, readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        json.dump({short: asdict(c) for short, c in credentials.items()}, out, indent=2)
        out.write("\n")
    return path
