"""The embedded demo keeps its data across restarts (the in-process chain kept in a file beside
the SQLite database): the same ledger, API keys and notes, chain and index agreeing; `reset` and a
chain file that does not match the database start over."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from pydantic import SecretStr

from service.api.app import create_app
from service.api.context import AppContext
from service.indexer.reconcile import reconcile
from service.settings import Settings
from service.setup.embedded import chain_file, embedded_gateway


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        rpc_url="embedded",
        database_url=f"sqlite:///{tmp_path / 'var' / 'demo.sqlite'}",
        master_secret=SecretStr("demo-secret"),
        key_kdf_iterations=1,
    )


def _assert_index_agrees(context: AppContext) -> None:
    """The gateway served (its indexer caught up), then SQL compared with the chain."""
    with TestClient(create_app(context)) as client:
        assert client.get("/readyz").json()["checks"]["indexer_lag"] == 0
    assert context.settings.contract_address is not None
    report = reconcile(context.chain.w3, context.engine, context.settings.contract_address)
    assert report.clean, report.summary()


def test_the_chain_file_sits_beside_the_sqlite_database() -> None:
    assert chain_file("sqlite:///var/credchain.sqlite") == Path("var/credchain.chain.sqlite")
    assert chain_file("sqlite:///:memory:") is None
    assert chain_file("postgresql+psycopg://postgres@127.0.0.1/test") is None


def test_a_restart_keeps_the_ledger_the_keys_and_the_notes(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    credentials_path = tmp_path / "var" / "demo-credentials.json"
    context, operator_key, seeded = embedded_gateway(settings, seed=True, credentials_path=credentials_path)
    assert seeded is not None
    try:
        acme = {"Authorization": f"Bearer {seeded['acme'].api_key}"}
        with TestClient(create_app(context)) as client:
            maturity = datetime.fromtimestamp(context.chain.now() + 90 * 86_400, UTC).isoformat()
            issue = {"to": seeded["gearbox"].id, "currency": "USD", "amount": "1000000", "maturity": maturity}
            issued = client.post("/v1/notes", json={**issue, "document_hash": "0x" + "ab" * 32}, headers=acme)
            assert issued.status_code in (200, 201, 202), issued.text
        address = context.settings.contract_address
    finally:
        context.close()

    context, again_key, again = embedded_gateway(settings, seed=True, credentials_path=credentials_path)
    try:
        assert (context.settings.contract_address, again_key, again) == (address, operator_key, seeded)
        with TestClient(create_app(context)) as client:
            notes = client.get("/v1/notes", headers=acme)
            assert notes.status_code == 200, notes.text
            assert [n["amount"] for n in notes.json()["items"]] == ["1000000"]
        _assert_index_agrees(context)
    finally:
        context.close()


def test_reset_starts_over_on_a_fresh_ledger(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    context, first_key, _ = embedded_gateway(settings, seed=False)
    first = context.settings.contract_address
    context.close()
    context, kept_key, _ = embedded_gateway(settings, seed=False)
    assert (context.settings.contract_address, kept_key) == (first, None)
    context.close()
    context, new_key, _ = embedded_gateway(settings, seed=False, reset=True)
    try:
        assert new_key is not None and new_key != first_key
        assert context.settings.contract_address is not None
        assert context.chain.head_block() < 20
        _assert_index_agrees(context)
    finally:
        context.close()


def test_a_chain_file_without_its_database_starts_over(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    context, _, _ = embedded_gateway(settings, seed=False)
    context.close()
    (tmp_path / "var" / "demo.sqlite").unlink()
    context, api_key, _ = embedded_gateway(settings, seed=False)
    try:
        assert api_key is not None
        _assert_index_agrees(context)
    finally:
        context.close()
