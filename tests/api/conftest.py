"""Gateway fixtures: a ledger deployed and a consortium onboarded through the API once per session
(on its own in-process chain, into a template SQLite file); each test gets a copy of that database
and a chain snapshot, reverted afterwards."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine

from service.api.app import create_app
from service.api.context import AppContext, build_context
from service.db.migrate import upgrade
from service.db.session import make_engine
from service.ledger.chain import Chain, in_process_chain
from service.ledger.keyring import Keyring
from service.settings import Settings
from service.setup.bootstrap import deploy, register_operator

DAY = 86_400
LIMIT = 10**15
MEMBERS = {
    "core": ["core_enterprise"],
    "s1": ["supplier"],
    "s2": ["supplier"],
    "s3": ["supplier"],
    "bank": ["financier"],
    "auditor": ["auditor"],
}


@dataclass
class Gateway:
    """A TestClient over a gateway, and the onboarded members: names -> API key, id, address."""

    client: TestClient
    context: AppContext
    chain: Chain
    keys: dict[str, str]
    ids: dict[str, str]
    addresses: dict[str, str]
    _docs: list[int] = field(default_factory=lambda: [0])

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def post(self, who: str, path: str, json: Any = None, **headers: str) -> Any:
        return self.client.post(path, json=json, headers={**self.auth(who), **headers})

    def get(self, who: str, path: str, **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.auth(who))

    def document(self) -> str:
        self._docs[0] += 1
        return "0x" + (0xD0C0000 + self._docs[0]).to_bytes(32, "big").hex()

    def maturity(self, days: int = 90) -> str:
        from datetime import UTC, datetime

        return datetime.fromtimestamp(self.chain.now() + days * DAY, UTC).isoformat().replace("+00:00", "Z")

    def issue_body(self, to: str = "s1", amount: Any = "1000000", **extra: Any) -> dict[str, Any]:
        body = {
            "to": self.ids.get(to, to),
            "amount": amount,
            "currency": "USD",
            "maturity": self.maturity(),
            "document_hash": self.document(),
            "reference": "invoice 42",
        }
        body.update(extra)
        return body

    def issue(self, to: str = "s1", amount: Any = "1000000", **extra: Any) -> str:
        answer = self.post("core", "/v1/notes", self.issue_body(to, amount, **extra))
        assert answer.status_code == 201, answer.text
        note_id: str = answer.json()["note_ids"][0]
        return note_id

    def active(self, to: str = "s1", amount: Any = "1000000") -> str:
        note_id = self.issue(to, amount)
        answer = self.post(to, f"/v1/notes/{note_id}/accept")
        assert answer.status_code == 200, answer.text
        return note_id


IDLE_CHEAP: dict[str, Any] = {"webhook_poll_seconds": 0.5, "alert_interval_seconds": 60.0}
"""Every test gateway runs the webhook dispatcher and the alert scheduler; idle, on SQLite, the
dispatcher's default 50 ms poll costs ~4 % of a core per app (0.5 s: under 1.5 %), and the
scheduler only evaluates each minute (tests call `evaluate_now` themselves). Tests that want faster
delivery set `webhook_poll_seconds` back."""


def settings_for(url: str, **values: Any) -> Settings:
    values = {**IDLE_CHEAP, **values}
    return Settings(
        rpc_url="embedded",
        database_url=url,
        master_secret=SecretStr("test-secret"),
        key_kdf_iterations=1,
        write_wait_seconds=10,
        **values,
    )


@dataclass(frozen=True)
class _Template:
    chain: Chain
    path: Path
    settings: Settings
    keys: dict[str, str]
    ids: dict[str, str]
    addresses: dict[str, str]


def _context(settings: Settings, chain: Chain, engine: Engine | None = None) -> AppContext:
    return build_context(settings, chain=chain, engine=engine or make_engine(settings.database_url))


@pytest.fixture(scope="session")
def _template(tmp_path_factory: pytest.TempPathFactory) -> _Template:
    chain = in_process_chain()
    path = tmp_path_factory.mktemp("gateway") / "template.sqlite"
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
    keys = {"operator": operator_key}
    ids = {"operator": "operator"}
    addresses = {"operator": deployment.operator.address}
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
        answer = client.post(
            "/v1/credit-relationships",
            json={"financier": ids["bank"]},
            headers={"Authorization": f"Bearer {keys['core']}"},
        )
        assert answer.status_code == 201, answer.text
        answer = client.post(
            "/v1/credit-limits",
            json={"obligor": ids["core"], "amount": str(LIMIT)},
            headers={"Authorization": f"Bearer {keys['bank']}"},
        )
        assert answer.status_code == 200, answer.text
    context.close()
    return _Template(chain, path, settings, keys, ids, addresses)


@pytest.fixture
def gw(_template: _Template, tmp_path: Path) -> Iterator[Gateway]:
    """A gateway over a copy of the template database, on a snapshot of the template chain."""
    path = tmp_path / "gateway.sqlite"
    shutil.copyfile(_template.path, path)
    settings = _template.settings.model_copy(update={"database_url": f"sqlite:///{path}"})
    snapshot = _template.chain.snapshot()
    context = _context(settings, _template.chain)
    try:
        with TestClient(create_app(context)) as client:
            yield Gateway(
                client,
                context,
                _template.chain,
                dict(_template.keys),
                dict(_template.ids),
                dict(_template.addresses),
            )
    finally:
        context.close()
        _template.chain.revert(snapshot)


@contextmanager
def configured_gateway(template: _Template, tmp_path: Path, **values: Any) -> Iterator[Gateway]:
    """A gateway like the `gw` fixture's with some settings changed (e.g. rate limits)."""
    path = tmp_path / f"gateway-{len(list(tmp_path.iterdir()))}.sqlite"
    shutil.copyfile(template.path, path)
    settings = template.settings.model_copy(update={"database_url": f"sqlite:///{path}", **values})
    snapshot = template.chain.snapshot()
    context = _context(settings, template.chain)
    try:
        with TestClient(create_app(context)) as client:
            yield Gateway(
                client,
                context,
                template.chain,
                dict(template.keys),
                dict(template.ids),
                dict(template.addresses),
            )
    finally:
        context.close()
        template.chain.revert(snapshot)


NO_RATE_LIMITS = {
    "rate_limit_writes": "0",
    "rate_limit_reads": "0",
    "rate_limit_expensive": "0",
    "rate_limit_unauthenticated": "0",
}
"""Settings of a gateway that load tests drive harder than any member would."""
