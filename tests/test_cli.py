"""CLI: `credchain keys issue` and `credchain operator-key` (a new API key, shown once; the old one
stops working), and usage errors of `credchain index`."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from service.api.auth import hash_key
from service.api.bootstrap import OPERATOR_ID, register_operator
from service.cli import app
from service.db.gateway_models import ApiMember
from service.db.migrate import upgrade
from service.db.session import make_engine

runner = CliRunner()
SUPPLIER_ADDRESS = "0x" + "12" * 20


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'gateway.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        register_operator(session, "0x" + "34" * 20, None)
        session.add(
            ApiMember(
                id="m_supplier",
                name="Gearbox Ltd",
                address=SUPPLIER_ADDRESS,
                roles="supplier",
                api_key_hash=hash_key("cc_old"),
                custody="self",
                encrypted_key=None,
            )
        )
        session.commit()
    engine.dispose()
    return url


def _key_hash(url: str, member_id: str) -> str:
    engine = make_engine(url)
    with Session(engine) as session:
        member = session.get(ApiMember, member_id)
        assert member is not None
        digest = member.api_key_hash
    engine.dispose()
    return digest


def test_keys_issue_replaces_a_members_key_and_prints_the_new_one_once(database: str) -> None:
    result = runner.invoke(app, ["keys", "issue", "m_supplier", "--database-url", database])
    assert result.exit_code == 0, result.output
    new_key = result.output.strip().rsplit(" ", 1)[-1]
    assert new_key.startswith("cc_") and new_key != "cc_old"
    assert _key_hash(database, "m_supplier") == hash_key(new_key) != hash_key("cc_old")


def test_keys_issue_for_an_unknown_member_exits_1_and_changes_nothing(database: str) -> None:
    result = runner.invoke(app, ["keys", "issue", "m_nobody", "--database-url", database])
    assert result.exit_code == 1
    assert "no member 'm_nobody'" in result.output
    assert _key_hash(database, "m_supplier") == hash_key("cc_old")


def test_operator_key_replaces_the_operators_key(database: str) -> None:
    before = _key_hash(database, OPERATOR_ID)
    result = runner.invoke(app, ["operator-key", "--database-url", database])
    assert result.exit_code == 0, result.output
    new_key = result.output.strip().rsplit(" ", 1)[-1]
    assert _key_hash(database, OPERATOR_ID) == hash_key(new_key) != before


def test_index_without_a_contract_address_is_a_usage_error_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CREDCHAIN_CONTRACT_ADDRESS", raising=False)
    monkeypatch.delenv("CREDCHAIN_CONTRACT", raising=False)
    result = runner.invoke(app, ["index", "--no-migrate"])
    assert result.exit_code == 2
    assert "CREDCHAIN_CONTRACT_ADDRESS" in result.output
