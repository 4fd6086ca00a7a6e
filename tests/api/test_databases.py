"""One whole flow on a fresh deployment, on SQLite and on PostgreSQL (the `empty_db` fixture)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.api.app import create_app
from service.api.context import build_context
from service.cli import app as cli
from service.ledger.chain import Chain
from service.setup.bootstrap import bootstrap_gateway
from tests.api.conftest import _Template, settings_for
from tests.databases import TestDatabase


@pytest.fixture
def snapshot_chain(_template: _Template) -> Iterator[Chain]:
    snapshot = _template.chain.snapshot()
    yield _template.chain
    _template.chain.revert(snapshot)


def test_flow_on_each_database(empty_db: TestDatabase, snapshot_chain: Chain) -> None:
    settings = settings_for(empty_db.url, database_schema=empty_db.schema)
    settings, operator_key = bootstrap_gateway(settings, snapshot_chain, None)
    context = build_context(settings, chain=snapshot_chain, engine=empty_db.engine)
    with TestClient(create_app(context)) as client:

        def post(key: str, path: str, body: object = None) -> dict[str, object]:
            answer = client.post(path, json=body, headers={"Authorization": f"Bearer {key}"})
            assert answer.status_code in (200, 201), answer.text
            result: dict[str, object] = answer.json()
            return result

        core = post(operator_key, "/v1/members", {"name": "Core", "roles": ["core_enterprise"]})
        supplier = post(operator_key, "/v1/members", {"name": "S", "roles": ["supplier", "financier"]})
        post(str(core["api_key"]), "/v1/credit-relationships", {"financier": supplier["id"]})
        post(str(supplier["api_key"]), "/v1/credit-limits", {"obligor": core["id"], "amount": "5000"})
        maturity = datetime.fromtimestamp(snapshot_chain.now() + 30 * 86_400, UTC).isoformat()
        issued = post(
            str(core["api_key"]),
            "/v1/notes",
            {
                "to": supplier["id"],
                "amount": 5000,
                "currency": "EUR",
                "maturity": maturity,
                "document_hash": "0x" + "42" * 32,
            },
        )
        note_id = issued["note_ids"][0]  # type: ignore[index]
        post(str(supplier["api_key"]), f"/v1/notes/{note_id}/accept")
        split = post(
            str(supplier["api_key"]),
            f"/v1/notes/{note_id}/split",
            {"parts": [{"to": supplier["id"], "amount": "1"}, {"to": supplier["address"], "amount": "4999"}]},
        )
        assert [n["amount"] for n in split["notes"]] == ["1", "4999"]  # type: ignore[attr-defined]
        trace = client.get(
            f"/v1/notes/{note_id}/provenance", headers={"Authorization": f"Bearer {operator_key}"}
        ).json()
        assert len(trace["tree"]) == 3 and trace["tree"][0]["status"] == "split"
    context.indexer.stop()


def test_init_refuses_the_embedded_chain() -> None:
    result = CliRunner().invoke(cli, ["init", "--rpc-url", "embedded"])
    assert result.exit_code == 2
