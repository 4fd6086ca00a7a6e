"""CLI: `credchain keys issue` and `credchain operator-key` (a new API key, shown once; the old one
stops working), usage errors of `credchain index`, `credchain deploy` and `credchain members add` on
anvil, the refusal of a demo or short master secret outside embedded mode, and `run --workers`
usage errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from service.api.auth import hash_key
from service.api.context import build_context
from service.cli import app
from service.db.gateway_models import ApiMember
from service.db.migrate import upgrade
from service.db.models import Member
from service.db.session import make_engine
from service.domain import OPERATOR_ID, MemberStatus, Role
from service.ledger.chain import ANVIL_DEV_KEY, Chain
from service.ledger.client import LedgerClient
from service.settings import DEMO_MASTER_SECRET, InsecureMasterSecret, Settings, require_master_secret
from service.setup.bootstrap import register_operator
from tests.anvil import REPO_ROOT

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
    new_key = result.stdout.strip().rsplit(" ", 1)[-1]  # log lines of other threads go to stderr
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
    new_key = result.stdout.strip().rsplit(" ", 1)[-1]  # log lines of other threads go to stderr
    assert _key_hash(database, OPERATOR_ID) == hash_key(new_key) != before


def test_index_without_a_contract_address_is_a_usage_error_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CREDCHAIN_CONTRACT_ADDRESS", raising=False)
    monkeypatch.delenv("CREDCHAIN_CONTRACT", raising=False)
    result = runner.invoke(app, ["index", "--no-migrate"])
    assert result.exit_code == 2
    assert "CREDCHAIN_CONTRACT_ADDRESS" in result.output


# ------------------------------------------------------------------ deploy, members add (anvil)
SECRET = "cli-test-master-secret-0123456789abcdef"


def _node_env(monkeypatch: pytest.MonkeyPatch, anvil: Chain, database_url: str | None = None) -> str:
    """CREDCHAIN_* for a gateway against `anvil` (and a SQLite database); returns the RPC URL."""
    for name in list(os.environ):
        if name.startswith("CREDCHAIN_"):
            monkeypatch.delenv(name)
    rpc_url = str(anvil.w3.provider.endpoint_uri)  # type: ignore[attr-defined]
    monkeypatch.setenv("CREDCHAIN_RPC_URL", rpc_url)
    monkeypatch.setenv("CREDCHAIN_FUNDER_KEY", ANVIL_DEV_KEY)
    monkeypatch.setenv("CREDCHAIN_FUNDING_WEI", str(10**18))
    monkeypatch.setenv("CREDCHAIN_MASTER_SECRET", SECRET)
    monkeypatch.setenv("CREDCHAIN_KEY_KDF_ITERATIONS", "1")
    if database_url is not None:
        monkeypatch.setenv("CREDCHAIN_DATABASE_URL", database_url)
    return rpc_url


def _value(output: str, name: str) -> str:
    found = re.search(rf"^{name}=(\S+)$", output, re.M)
    assert found, output
    return found[1]


def test_deploy_with_an_operator_key_prints_the_address_and_sets_it_in_an_env_file(
    anvil: Chain, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _node_env(monkeypatch, anvil)
    operator = Account.create()
    env_file = tmp_path / "gateway.env"
    env_file.write_text(
        "# gateway\nCREDCHAIN_CONTRACT_ADDRESS=0xold\nCREDCHAIN_DATABASE_URL=postgresql://x\n"
    )
    monkeypatch.setenv("CREDCHAIN_OPERATOR_KEY", operator.key.hex())
    result = runner.invoke(app, ["deploy", "--env-file", str(env_file)])
    assert result.exit_code == 0, result.output
    address = _value(result.output, "CREDCHAIN_CONTRACT_ADDRESS")
    from_block = int(_value(result.output, "CREDCHAIN_FROM_BLOCK"))
    ledger = LedgerClient(anvil.w3, address)
    assert ledger.operator() == operator.address  # the key's holder operates it
    forwarder = ledger.trusted_forwarder()  # deployed with it, for self-custodied members' requests
    assert f"forwarder (relay of self-custodied members' signed requests) at {forwarder}" in result.output
    assert anvil.w3.eth.get_code(forwarder)
    registry = ledger.evidence_registry()  # named by the ledger: no setting of its own
    assert f"evidence registry (trade evidence, receivables) at {registry}" in result.output
    assert anvil.w3.eth.get_code(registry)
    code_block = next(
        b for b in range(from_block, anvil.w3.eth.block_number + 1) if anvil.w3.eth.get_code(address, b)
    )
    assert code_block >= from_block  # indexing from there misses nothing of the ledger
    assert env_file.read_text() == (
        f"# gateway\nCREDCHAIN_DATABASE_URL=postgresql://x\n"
        f"CREDCHAIN_CONTRACT_ADDRESS={address}\nCREDCHAIN_FROM_BLOCK={from_block}\n"
    )


def test_deploy_usage_errors(anvil: Chain, monkeypatch: pytest.MonkeyPatch) -> None:
    _node_env(monkeypatch, anvil)
    missing = runner.invoke(app, ["deploy"])
    assert missing.exit_code == 2 and "CREDCHAIN_OPERATOR_KEY" in missing.output
    monkeypatch.setenv("CREDCHAIN_OPERATOR_KEY", "0x1234")
    bad = runner.invoke(app, ["deploy"])
    assert bad.exit_code == 2 and "not a private key" in bad.output
    monkeypatch.setenv("CREDCHAIN_OPERATOR_KEY", "0x" + "11" * 32)
    embedded = runner.invoke(app, ["deploy", "--rpc-url", "embedded"])
    assert embedded.exit_code == 2 and "CREDCHAIN_RPC_URL" in embedded.output
    away = runner.invoke(app, ["deploy", "--rpc-url", "http://127.0.0.1:9"])
    assert away.exit_code == 1 and "cannot be reached" in away.output


def test_members_add_onboards_custodial_and_self_custodied_members(
    anvil: Chain, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    database_url = f"sqlite:///{tmp_path / 'gateway.sqlite'}"
    _node_env(monkeypatch, anvil, database_url)
    init = runner.invoke(app, ["init"])
    assert init.exit_code == 0, init.output
    contract = _value(init.output, "CREDCHAIN_CONTRACT_ADDRESS")
    monkeypatch.setenv("CREDCHAIN_CONTRACT_ADDRESS", contract)
    monkeypatch.setenv("CREDCHAIN_FROM_BLOCK", _value(init.output, "CREDCHAIN_FROM_BLOCK"))
    ledger = LedgerClient(anvil.w3, contract)

    added = runner.invoke(app, ["members", "add", "--name", "Gearbox Ltd", "--role", "supplier"])
    assert added.exit_code == 0, added.output
    found = re.search(r"API key of (m_[0-9a-f]+) \(shown once\): (cc_\S+)$", added.output, re.M)
    assert found, added.output
    member_id, api_key = found[1], found[2]
    assert "custodial" in added.output

    own = Account.create().address
    hsm = runner.invoke(
        app,
        [
            "members",
            "add",
            "--name",
            "HSM Bank",
            "--role",
            "financier",
            "--role",
            "auditor",
            "--address",
            own,
        ],
    )
    assert hsm.exit_code == 0, hsm.output
    assert "self" in hsm.output and own in hsm.output

    engine = make_engine(database_url)
    with Session(engine) as session:
        gearbox = session.get(ApiMember, member_id)
        assert gearbox is not None
        assert gearbox.api_key_hash == hash_key(api_key) and gearbox.custody == "custodial"
        assert gearbox.encrypted_key is not None and gearbox.roles == "supplier"
        bank = session.scalars(select(ApiMember).where(ApiMember.address == own)).one()
        assert bank.custody == "self" and bank.encrypted_key is None and bank.roles == "financier,auditor"
        indexed = {row.address: row for row in session.scalars(select(Member)).all()}
    engine.dispose()
    on_chain = ledger.get_member(gearbox.address)
    assert on_chain.status is MemberStatus.ACTIVE and on_chain.roles == Role.SUPPLIER
    assert ledger.get_member(own).roles == Role.FINANCIER | Role.AUDITOR
    assert {gearbox.address, own} <= set(indexed)  # indexed by the command itself

    again = runner.invoke(app, ["members", "add", "--name", "Twice", "--role", "supplier", "--address", own])
    assert again.exit_code == 1 and "Already a member" in again.output
    unknown = runner.invoke(app, ["members", "add", "--name", "x", "--role", "king"])
    assert unknown.exit_code == 2 and "king" in unknown.output
    bad_address = runner.invoke(
        app, ["members", "add", "--name", "x", "--role", "supplier", "--address", "0x12"]
    )
    assert bad_address.exit_code == 2


def test_members_add_needs_a_node_and_a_contract(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("CREDCHAIN_"):
            monkeypatch.delenv(name)
    embedded = runner.invoke(app, ["members", "add", "--name", "x", "--role", "supplier"])
    assert embedded.exit_code == 2 and "CREDCHAIN_RPC_URL" in embedded.output
    monkeypatch.setenv("CREDCHAIN_MASTER_SECRET", SECRET)
    no_contract = runner.invoke(
        app, ["members", "add", "--name", "x", "--role", "supplier", "--rpc-url", "http://127.0.0.1:9"]
    )
    assert no_contract.exit_code == 2 and "CREDCHAIN_CONTRACT_ADDRESS" in no_contract.output


# ------------------------------------------------------------------ the master secret
@pytest.mark.parametrize("secret", [None, "change-me", "short-secret", "x" * 31])
def test_a_demo_or_short_master_secret_is_refused_outside_embedded_mode(
    secret: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith("CREDCHAIN_"):
            monkeypatch.delenv(name)
    if secret is not None:
        monkeypatch.setenv("CREDCHAIN_MASTER_SECRET", secret)
    node = ["--rpc-url", "http://127.0.0.1:9"]
    for command in (
        ["run", *node],
        ["run", *node, "--workers", "2", "--database-url", "postgresql+psycopg://x@127.0.0.1/x"],
        ["init", *node],
        ["members", "add", "--name", "x", "--role", "supplier", *node],
    ):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, (command, result.output)
        assert "refusing to start" in result.output and "CREDCHAIN_MASTER_SECRET" in result.output
    settings = Settings(rpc_url="http://127.0.0.1:9", contract_address="0x" + "11" * 20)
    with pytest.raises(InsecureMasterSecret):
        build_context(settings)


def test_the_embedded_demo_keeps_its_default_master_secret() -> None:
    settings = Settings(rpc_url="embedded")
    assert settings.master_secret.get_secret_value() == DEMO_MASTER_SECRET
    require_master_secret(settings)  # no error
    require_master_secret(Settings(rpc_url="http://node:8545", master_secret=SecretStr("s" * 32)))


def test_a_gateway_process_with_the_demo_secret_exits_non_zero_with_the_reason(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDCHAIN_")}
    env.update(CREDCHAIN_RPC_URL="http://127.0.0.1:9", CREDCHAIN_CONTRACT_ADDRESS="0x" + "11" * 20)
    process = subprocess.run(
        [sys.executable, "-m", "service.cli", "run"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert process.returncode == 2, process.stdout + process.stderr
    assert "CREDCHAIN_MASTER_SECRET is the demo default" in process.stderr


# ------------------------------------------------------------------ run --workers
def test_several_workers_need_a_node_and_postgresql(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CREDCHAIN_"):
            monkeypatch.delenv(name)
    embedded = runner.invoke(app, ["run", "--workers", "2"])
    assert embedded.exit_code == 2 and "one worker" in embedded.output
    monkeypatch.setenv("CREDCHAIN_MASTER_SECRET", SECRET)
    monkeypatch.setenv("CREDCHAIN_CONTRACT_ADDRESS", "0x" + "11" * 20)
    monkeypatch.setenv("CREDCHAIN_WORKERS", "3")
    sqlite = runner.invoke(
        app, ["run", "--rpc-url", "http://127.0.0.1:9", "--database-url", "sqlite:///x.db"]
    )
    assert sqlite.exit_code == 2 and "PostgreSQL" in sqlite.output


# ------------------------------------------------------------------ init: the relayer's key (anvil)
def test_init_creates_and_funds_a_relayer_key_that_is_not_the_operators(
    anvil: Chain, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _node_env(monkeypatch, anvil, f"sqlite:///{tmp_path / 'gateway.sqlite'}")
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    key = _value(result.output, "CREDCHAIN_RELAYER_KEY")
    relayer = Account.from_key(key)
    assert f"relayer (pays relayed requests' gas; holds nothing else) at {relayer.address}" in result.output
    assert anvil.w3.eth.get_balance(relayer.address) == 10**18
    ledger = LedgerClient(anvil.w3, _value(result.output, "CREDCHAIN_CONTRACT_ADDRESS"))
    assert ledger.operator() != relayer.address
    assert ledger.get_member(relayer.address).status == MemberStatus.NONE  # gas only, no membership


def test_init_with_an_env_file_writes_the_relayer_key_there_owner_only_and_never_prints_it(
    anvil: Chain, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _node_env(monkeypatch, anvil, f"sqlite:///{tmp_path / 'gateway.sqlite'}")
    env_file = tmp_path / "gateway.env"
    result = runner.invoke(app, ["init", "--env-file", str(env_file)])
    assert result.exit_code == 0, result.output
    assert "CREDCHAIN_RELAYER_KEY" not in result.output
    written = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    assert set(written) == {"CREDCHAIN_CONTRACT_ADDRESS", "CREDCHAIN_FROM_BLOCK", "CREDCHAIN_RELAYER_KEY"}
    assert Account.from_key(written["CREDCHAIN_RELAYER_KEY"]).address in result.output
    assert os.stat(env_file).st_mode & 0o777 == 0o600


def test_init_keeps_a_configured_relayer_key(
    anvil: Chain, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _node_env(monkeypatch, anvil, f"sqlite:///{tmp_path / 'gateway.sqlite'}")
    own = Account.create()
    monkeypatch.setenv("CREDCHAIN_RELAYER_KEY", "0x" + bytes(own.key).hex())
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    assert "CREDCHAIN_RELAYER_KEY" not in result.output
    assert own.address in result.output
    assert anvil.w3.eth.get_balance(own.address) == 10**18  # funded: it had no ether


def test_no_command_takes_a_private_key_as_an_option() -> None:
    for command in (["init"], ["deploy"], ["run"], ["funding", "top-up"], ["members", "add"]):
        result = runner.invoke(app, [*command, "--operator-key", "0x" + "11" * 32])
        assert result.exit_code == 2 and "No such option" in result.output, command


def test_init_reads_the_operator_key_from_the_environment(
    anvil: Chain, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _node_env(monkeypatch, anvil)
    operator = Account.create()
    monkeypatch.setenv("CREDCHAIN_OPERATOR_KEY", "0x" + bytes(operator.key).hex())
    deployed = runner.invoke(app, ["deploy"])
    assert deployed.exit_code == 0, deployed.output
    monkeypatch.setenv("CREDCHAIN_CONTRACT_ADDRESS", _value(deployed.output, "CREDCHAIN_CONTRACT_ADDRESS"))
    monkeypatch.setenv("CREDCHAIN_DATABASE_URL", f"sqlite:///{tmp_path / 'gateway.sqlite'}")
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.sqlite'}")
    with Session(engine) as session:
        registered = session.get(ApiMember, OPERATOR_ID)
        assert registered is not None
        assert (registered.address, registered.custody) == (operator.address, "custodial")
    engine.dispose()


def test_ledger_settings_min_part_amount_sets_and_prints_a_currencys_minimum(
    anvil: Chain, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    database_url = f"sqlite:///{tmp_path / 'gateway.sqlite'}"
    _node_env(monkeypatch, anvil, database_url)
    init = runner.invoke(app, ["init"])
    assert init.exit_code == 0, init.output
    contract = _value(init.output, "CREDCHAIN_CONTRACT_ADDRESS")
    monkeypatch.setenv("CREDCHAIN_CONTRACT_ADDRESS", contract)
    monkeypatch.setenv("CREDCHAIN_FROM_BLOCK", _value(init.output, "CREDCHAIN_FROM_BLOCK"))

    set_it = runner.invoke(app, ["ledger-settings", "min-part-amount", "USD", "10000"])
    assert set_it.exit_code == 0, set_it.output
    assert "minimum part amount of USD set to 10000 minor units" in set_it.output
    assert LedgerClient(anvil.w3, contract).min_part_amount("USD") == 10_000
    shown = runner.invoke(app, ["ledger-settings", "min-part-amount", "USD"])
    assert shown.exit_code == 0 and "USD: 10000 minor units" in shown.output
    bad_currency = runner.invoke(app, ["ledger-settings", "min-part-amount", "US", "1"])
    assert bad_currency.exit_code == 2 and "not an ISO 4217 currency code" in bad_currency.output
    negative = runner.invoke(app, ["ledger-settings", "min-part-amount", "USD", "-1"])
    assert negative.exit_code == 2
