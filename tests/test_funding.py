"""Node mode funding: a custodial member without gas gets the `insufficient-gas` problem naming it,
`credchain funding top-up` pays it and the same request with the same Idempotency-Key then succeeds
once; what `run`/`init`/`members add` say about funding at start, `credchain funding status`, and
the CLI's error paths (anvil and SQLite)."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.api.app import create_app
from service.api.context import build_context
from service.cli import app
from service.ledger.chain import ANVIL_DEV_KEY, Chain
from service.settings import Settings
from tests.test_cli import _node_env, _value

runner = CliRunner()


def _added(output: str) -> tuple[str, str]:
    found = re.search(r"API key of (m_[0-9a-f]+) \(shown once\): (cc_\S+)$", output, re.M)
    assert found, output
    return found[1], found[2]


class Ledger:
    """A ledger on anvil set up by `credchain init` with a funder; `add` onboards members."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, anvil: Chain, tmp_path: Path) -> None:
        self.monkeypatch = monkeypatch
        self.anvil = anvil
        _node_env(monkeypatch, anvil, f"sqlite:///{tmp_path / 'gateway.sqlite'}")
        init = runner.invoke(app, ["init"])
        assert init.exit_code == 0, init.output
        self.init_output = init.output
        monkeypatch.setenv("CREDCHAIN_CONTRACT_ADDRESS", _value(init.output, "CREDCHAIN_CONTRACT_ADDRESS"))
        monkeypatch.setenv("CREDCHAIN_FROM_BLOCK", _value(init.output, "CREDCHAIN_FROM_BLOCK"))
        monkeypatch.setenv("CREDCHAIN_RELAYER_KEY", _value(init.output, "CREDCHAIN_RELAYER_KEY"))

    def add(self, name: str, role: str) -> tuple[str, str]:
        added = runner.invoke(app, ["members", "add", "--name", name, "--role", role])
        assert added.exit_code == 0, added.output
        return _added(added.output)

    def without_funder(self) -> None:
        self.monkeypatch.delenv("CREDCHAIN_FUNDER_KEY")

    def with_funder(self) -> None:
        self.monkeypatch.setenv("CREDCHAIN_FUNDER_KEY", ANVIL_DEV_KEY)

    @contextmanager
    def gateway(self) -> Iterator[TestClient]:
        context = build_context(Settings())
        try:
            with TestClient(create_app(context)) as client:
                yield client
        finally:
            context.close()


@pytest.fixture
def ledger(anvil: Chain, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Ledger:
    return Ledger(monkeypatch, anvil, tmp_path)


def test_a_member_without_gas_gets_insufficient_gas_and_the_same_key_succeeds_once_after_a_top_up(
    ledger: Ledger, anvil: Chain
) -> None:
    bank_id, _ = ledger.add("Bank", "financier")
    ledger.without_funder()
    core_id, core_key = ledger.add("Core", "core_enterprise")
    headers = {"Authorization": f"Bearer {core_key}", "Idempotency-Key": "approve-bank-1"}
    body = {"financier": bank_id}
    with ledger.gateway() as client:
        refused = client.post("/v1/credit-relationships", json=body, headers=headers)
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        problem = refused.json()
        assert problem["type"].endswith("/insufficient-gas")
        assert problem["member_id"] == core_id
        core_address = problem["address"]
        assert problem["balance_wei"] == "0" and int(problem["estimated_cost_wei"]) > 0
        assert "credchain funding top-up" in problem["detail"] and "Retry-After" not in refused.headers
        assert anvil.w3.eth.get_transaction_count(core_address) == 0  # nothing was sent

        ledger.with_funder()
        topped = runner.invoke(app, ["funding", "top-up", core_id, "--eth", "0.5"])
        assert topped.exit_code == 0, topped.output
        assert anvil.w3.eth.get_balance(core_address) == 5 * 10**17

        done = client.post("/v1/credit-relationships", json=body, headers=headers)
        assert done.status_code == 201, done.text
        again = client.post("/v1/credit-relationships", json=body, headers=headers)
        assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
        assert again.json()["tx_hash"] == done.json()["tx_hash"]
        assert anvil.w3.eth.get_transaction_count(core_address) == 1  # done exactly once


def test_funding_at_start_names_the_funder_or_says_there_is_none(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="credchain.funding")
    ledger.add("Bank", "financier")
    funded = [r for r in caplog.records if r.name == "credchain.funding"]
    assert funded and funded[-1].funder_address == anvil_funder(ledger)  # type: ignore[attr-defined]
    assert funded[-1].funding_wei == str(10**18)  # type: ignore[attr-defined]
    caplog.clear()
    ledger.without_funder()
    ledger.add("Core", "core_enterprise")
    unfunded = [r for r in caplog.records if r.name == "credchain.funding"]
    assert unfunded and unfunded[-1].funder_address is None  # type: ignore[attr-defined]
    assert "no gas" in unfunded[-1].getMessage() and "CREDCHAIN_FUNDER_KEY" in unfunded[-1].getMessage()


def anvil_funder(ledger: Ledger) -> str:
    assert ledger.anvil.funder is not None
    return str(ledger.anvil.funder.address)


def test_funding_status_prints_the_funder_the_relayer_and_the_accounts_below_one_writes_cost(
    ledger: Ledger,
) -> None:
    ledger.without_funder()
    core_id, _ = ledger.add("Core", "core_enterprise")
    ledger.with_funder()
    status = runner.invoke(app, ["funding", "status"])
    assert status.exit_code == 0, status.output
    assert f"funder {anvil_funder(ledger)}:" in status.output
    assert "each new custodial account gets 1 ETH (1000000000000000000 wei)" in status.output
    assert "relayer 0x" in status.output
    assert re.search(rf"^low: {core_id} \(Core\) at 0x[0-9a-fA-F]{{40}} has 0 wei$", status.output, re.M)


def test_funding_status_without_a_funder_says_new_accounts_get_no_gas(ledger: Ledger) -> None:
    ledger.without_funder()
    status = runner.invoke(app, ["funding", "status"])
    assert status.exit_code == 0, status.output
    assert status.output.startswith("no funder: new custodial accounts get no gas")


def test_top_up_of_an_unknown_member_exits_1_with_one_line(ledger: Ledger) -> None:
    result = runner.invoke(app, ["funding", "top-up", "m_nobody", "--wei", "1000"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == ["refused: No such member: no member 'm_nobody'"]


def test_top_up_without_a_funder_exits_1_naming_the_setting(ledger: Ledger) -> None:
    core_id, _ = ledger.add("Core", "core_enterprise")
    ledger.without_funder()
    result = runner.invoke(app, ["funding", "top-up", core_id, "--wei", "1000"])
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1 and "CREDCHAIN_FUNDER_KEY" in result.output


@pytest.mark.parametrize(
    "amount",
    [
        ["--wei", "1.5"],
        ["--wei", "0"],
        ["--eth", "abc"],
        ["--eth", "-1"],
        ["--eth", "0.0000000000000000001"],
        [],
    ],
    ids=["fractional-wei", "zero-wei", "not-a-number", "negative-ether", "below-one-wei", "none"],
)
def test_top_up_with_a_bad_amount_exits_2(amount: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CREDCHAIN_"):
            monkeypatch.delenv(name)
    result = runner.invoke(app, ["funding", "top-up", "m_someone", *amount])
    assert result.exit_code == 2, result.output


def test_top_up_with_both_wei_and_ether_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    result = runner.invoke(app, ["funding", "top-up", "m_someone", "--wei", "1", "--eth", "1"])
    assert result.exit_code == 2 and "exactly one of --wei and --eth" in result.output


def test_funding_commands_need_a_node(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CREDCHAIN_"):
            monkeypatch.delenv(name)
    result = runner.invoke(app, ["funding", "status"])
    assert result.exit_code == 2 and "CREDCHAIN_RPC_URL" in result.output
