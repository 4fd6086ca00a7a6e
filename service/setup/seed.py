"""The demo consortium of the embedded gateway, onboarded through the same code as the API
(custodial keys, the bank's credit-limit grant), and the credentials file that hands its API keys
to whoever drives the demo (`credchain run` writes `var/demo-credentials.json`)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import select

from service.api.auth import hash_key
from service.api.context import AppContext
from service.api.financing.service import approve_financier, grant_credit_limit
from service.api.ledger_settings.service import apply_min_part_amount
from service.api.members.service import onboard_member
from service.api.tokens.service import approve_ledger, deposit, setup_settlement_token
from service.db.gateway_models import ApiMember
from service.domain import AUDITOR, CORE_ENTERPRISE, FINANCIER, OPERATOR_ID, SUPPLIER
from service.secret_files import write_private_text

DEFAULT_CREDENTIALS = Path("var/demo-credentials.json")
ACME_CREDIT_LIMIT = 50_000_000_00  # USD 50,000,000.00 in minor units
DEMO_DEPOSITS = {"acme": 50_000_000_00, "bank": 10_000_000_00}
"""Settlement tokens (USD minor units) minted to demo members against deposits, and approved to
the ledger: Acme Motors pays at maturity, First Bank pays discount prices."""

DEMO_MIN_PART_AMOUNTS = {"USD": 100_00, "EUR": 100_00, "CNY": 100_00}
"""The demo ledger's minimum part amount per currency (100.00): no note or split part below it. The
contract's default is 0 (no minimum: ledgers deployed before the rule behave as they did); an
operator sets its own with `credchain ledger-settings min-part-amount` or the API."""

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
    """Onboard the demo members with custodial keys, have Acme Motors approve First Bank as its
    financier and First Bank grant Acme its limit; returns every demo member's credentials (the
    operator's included)."""
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
        assert created.api_key is not None  # a first onboarding always shows it
        credentials[short] = Credential(created.id, name, list(roles), created.address, created.api_key)
    with context.session() as session:
        bank = session.scalars(select(ApiMember).where(ApiMember.id == credentials["bank"].id)).one()
        acme = session.scalars(select(ApiMember).where(ApiMember.id == credentials["acme"].id)).one()
    approve_financier(context, acme, credentials["bank"].id)
    grant_credit_limit(context, bank, credentials["acme"].id, ACME_CREDIT_LIMIT)
    with context.session() as session:
        operator = session.scalars(select(ApiMember).where(ApiMember.id == OPERATOR_ID)).one()
    for currency, minimum in DEMO_MIN_PART_AMOUNTS.items():
        apply_min_part_amount(context, operator, currency, minimum)
    setup_settlement_token(context, "USD")
    for short, amount in DEMO_DEPOSITS.items():
        deposit(context, credentials[short].id, amount, f"demo deposit {short}")
        approve_ledger(context, credentials[short].id, amount)
    return credentials


def write_credentials(path: Path, credentials: dict[str, Credential]) -> Path:
    """`credentials` as a JSON object keyed by short name, readable by the owner only (0600, an
    existing file's mode replaced); a symbolic link at `path` is refused (UnsafeSecretPath) and
    nothing is written through it (`service.secret_files`)."""
    text = json.dumps({short: asdict(c) for short, c in credentials.items()}, indent=2) + "\n"
    return write_private_text(path, text)
