"""Fixtures of the financing tests: a gateway on its own in-process chain with a USD settlement
token registered, two core enterprises (core, which approved bank and is granted by it; core2,
likewise with bank2), three suppliers, the two financiers and an auditor, every payer holding
settlement tokens it allowed the ledger to take. Built once per session into a template SQLite file;
each test gets a copy of it and a chain snapshot, reverted afterwards (as tests/api/conftest.py does
for the base consortium).

Test modules import `fin_fixture` and `fin_template_fixture` (the fixtures `fin` and `fin_template`)
from here."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from service.api.app import create_app
from service.api.tokens.service import approve_ledger, deposit, setup_settlement_token
from service.db.migrate import upgrade
from service.db.models import DiscountOffer, Event, Note, ObligorCredit, Payment, PaymentClaim
from service.db.session import make_engine
from service.ledger.chain import Chain, in_process_chain
from service.ledger.client import SettlementTokenClient
from service.ledger.keyring import Keyring
from service.settings import Settings
from service.setup.bootstrap import deploy, register_operator
from tests.api.conftest import DAY, Gateway, _context, settings_for
from tests.databases import TestDatabase, copy_database

LIMIT = 10**12
TOKENS = 10**11
"""Settlement tokens each payer (core, core2, bank, bank2) holds and allowed the ledger at the start."""
MEMBERS = {
    "core": ["core_enterprise"],
    "core2": ["core_enterprise"],
    "s1": ["supplier"],
    "s2": ["supplier"],
    "s3": ["supplier"],
    "bank": ["financier"],
    "bank2": ["financier"],
    "auditor": ["auditor"],
}
GRANTS = {"bank": "core", "bank2": "core2"}
PAYERS = ("core", "core2", "bank", "bank2")
PROBLEM = "application/problem+json"


@dataclass
class Fin(Gateway):
    """The base Gateway helpers plus the settlement token and time."""

    token: SettlementTokenClient | None = None

    def balance(self, who: str) -> int:
        assert self.token is not None
        with self.context.write_lock():
            return self.token.balance_of(self.addresses.get(who, who))

    def advance(self, days: float) -> None:
        """Move the chain's clock and let the index see the new block."""
        with self.context.write_lock():
            self.chain.advance_time(int(days * DAY))
            head = int(self.chain.w3.eth.block_number)
        assert self.context.wait_indexed(head)

    def issue_to(self, to: str = "s1", amount: int = 1_000_000, days: int = 30, by: str = "core") -> str:
        body = self.issue_body(to, str(amount))
        body["maturity"] = self.maturity(days)
        answer = self.post(by, "/v1/notes", body)
        assert answer.status_code == 201, answer.text
        note_id: str = answer.json()["note_ids"][0]
        accepted = self.post(to, f"/v1/notes/{note_id}/accept")
        assert accepted.status_code == 200, accepted.text
        return note_id

    def split(self, who: str, note_id: str, parts: list[tuple[str, int]]) -> list[str]:
        body = {"parts": [{"to": self.ids[to], "amount": str(amount)} for to, amount in parts]}
        answer = self.post(who, f"/v1/notes/{note_id}/split", body)
        assert answer.status_code == 200, answer.text
        ids: list[str] = answer.json()["note_ids"]
        return ids

    def offer(self, note_id: str, who: str = "bank", days: int = 10, **body: Any) -> dict[str, Any]:
        payload = {"deadline": self.maturity(days), **body}
        if "price" not in payload and "rate" not in payload:
            payload["price"] = "990000"
        answer = self.post(who, f"/v1/notes/{note_id}/discount-offers", payload)
        assert answer.status_code == 201, answer.text
        offer: dict[str, Any] = answer.json()["offer"]
        return offer

    def state(self, who: tuple[str, ...] = (*PAYERS, "s1", "s2", "s3")) -> dict[str, Any]:
        """Everything a refused write must leave alone: the chain's head, every note and open offer
        on the ledger, settlement-token balances and allowances, and every indexed row."""
        ledger = self.context.ledger
        with self.context.write_lock():
            head = int(self.chain.w3.eth.block_number)
            offers = [ledger.get_offer(i) for i in range(1, ledger.offer_count() + 1)]
        with self.context.session() as session:
            notes = list(session.scalars(select(Note).order_by(Note.id)))
            rows = {
                table.__tablename__: [
                    {c.key: getattr(row, c.key) for c in table.__table__.columns}
                    for row in session.scalars(select(table))
                ]
                for table in (Note, DiscountOffer, Payment, PaymentClaim, ObligorCredit)
            }
            events = session.scalar(select(func.count()).select_from(Event))
        with self.context.write_lock():
            chain_notes = [ledger.get_note(n.id) for n in notes]
            paid = [ledger.paid_amount(n.id) for n in notes]
        assert self.token is not None
        with self.context.write_lock():
            balances = {w: self.token.balance_of(self.addresses[w]) for w in who}
            allowances = {w: self.token.allowance(self.addresses[w], ledger.address) for w in who}
        return {
            "head": head,
            "offers": offers,
            "notes": chain_notes,
            "paid": paid,
            "balances": balances,
            "allowances": allowances,
            "rows": rows,
            "events": events,
        }

    def note(self, note_id: str, who: str = "auditor") -> dict[str, Any]:
        answer = self.get(who, f"/v1/notes/{note_id}")
        assert answer.status_code == 200, answer.text
        note: dict[str, Any] = answer.json()
        return note


def problem(answer: Any, status: int, slug: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM), answer.headers
    body: dict[str, Any] = answer.json()
    assert body["type"] == f"https://credchain.dev/errors/{slug}", body
    assert body["status"] == status and body["title"]
    return body


@dataclass(frozen=True)
class FinTemplate:
    chain: Chain
    path: Path
    settings: Settings
    keys: dict[str, str]
    ids: dict[str, str]
    addresses: dict[str, str]


@pytest.fixture(scope="session", name="fin_template")
def fin_template_fixture(tmp_path_factory: pytest.TempPathFactory) -> FinTemplate:
    chain = in_process_chain()
    path = tmp_path_factory.mktemp("financing") / "template.sqlite"
    url = f"sqlite:///{path}"
    upgrade(url)
    base = settings_for(url)
    keyring = Keyring(base.master_secret.get_secret_value(), base.key_kdf_iterations)
    deployment = deploy(chain, keyring, base.funding_wei)
    settings = settings_for(
        url, contract_address=deployment.contract_address, from_block=deployment.block_number
    )
    context = _context(settings, chain)
    with context.session() as session:
        operator_key = register_operator(session, deployment.operator.address, deployment.keystore)
    keys, ids, addresses = {"operator": operator_key}, {"operator": "operator"}, {}
    addresses["operator"] = deployment.operator.address
    with TestClient(create_app(context)) as client:
        for name, roles in MEMBERS.items():
            answer = client.post(
                "/v1/members",
                json={"name": name, "roles": roles},
                headers={"Authorization": f"Bearer {operator_key}"},
            )
            assert answer.status_code == 201, answer.text
            body = answer.json()
            keys[name], ids[name], addresses[name] = body["api_key"], body["id"], body["address"]
        for financier, obligor in GRANTS.items():
            answer = client.post(
                "/v1/credit-relationships",
                json={"financier": ids[financier]},
                headers={"Authorization": f"Bearer {keys[obligor]}"},
            )
            assert answer.status_code == 201, answer.text
            answer = client.post(
                "/v1/credit-limits",
                json={"obligor": ids[obligor], "amount": str(LIMIT)},
                headers={"Authorization": f"Bearer {keys[financier]}"},
            )
            assert answer.status_code == 200, answer.text
        setup_settlement_token(context, "USD")
        for name in PAYERS:
            deposit(context, ids[name], TOKENS, f"deposit {name}")
            approve_ledger(context, ids[name], TOKENS)
        with context.write_lock():
            head = int(chain.w3.eth.block_number)
        assert context.wait_indexed(head)
    context.close()
    return FinTemplate(chain, path, settings, keys, ids, addresses)


@contextmanager
def gateway_on(template: FinTemplate, directory: Path, database: TestDatabase | None = None) -> Iterator[Fin]:
    """A gateway over a copy of the financing template in `directory` (or, given a PostgreSQL
    `database`, copied into it), on a snapshot of its chain that is reverted on exit."""
    if database is not None and database.kind == "postgresql":
        upgrade(database.url, database.schema)
        source = make_engine(f"sqlite:///{template.path}")
        try:
            copy_database(source, database)
        finally:
            source.dispose()
        update = {"database_url": database.url, "database_schema": database.schema}
        engine: Engine | None = database.engine
    else:
        path = directory / "gateway.sqlite"
        shutil.copyfile(template.path, path)
        update, engine = {"database_url": f"sqlite:///{path}"}, None
    settings = template.settings.model_copy(update=update)
    snapshot = template.chain.snapshot()
    context = _context(settings, template.chain, engine)
    try:
        with TestClient(create_app(context)) as client:
            yield Fin(
                client,
                context,
                template.chain,
                dict(template.keys),
                dict(template.ids),
                dict(template.addresses),
                token=context.settlement_token("USD"),
            )
    finally:
        context.close()
        template.chain.revert(snapshot)


@pytest.fixture(name="fin")
def fin_fixture(fin_template: FinTemplate, tmp_path: Path) -> Iterator[Fin]:
    """A gateway over a copy of the financing template, on a snapshot of its chain."""
    with gateway_on(fin_template, tmp_path) as gateway:
        yield gateway
