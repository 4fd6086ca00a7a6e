"""CLI: the operator's day against anvil: `credchain members list/suspend/reinstate`, `notes
freeze/unfreeze`, `ledger-settings show/max-tenor/grace-period`, `tokens list/register/deposit/
withdraw`; each write prints one line with its transaction, each refusal one line on stderr and
exit 1, each bad argument exit 2. One ledger is deployed for the whole module."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from service.api.context import build_context
from service.api.writes import signer
from service.cli import app
from service.db.gateway_models import ApiMember
from service.domain import CORE_ENTERPRISE, FINANCIER, SUPPLIER, MemberStatus
from service.ledger.chain import ANVIL_DEV_KEY, Chain
from service.ledger.client import LedgerClient
from service.settings import Settings

DAY = 86_400
SECRET = "cli-test-master-secret-0123456789abcdef"
runner = CliRunner()


@dataclass(frozen=True)
class Deployment:
    env: dict[str, str | None]
    ledger: LedgerClient
    ids: dict[str, str]
    addresses: dict[str, str]
    note_id: int

    def invoke(self, *args: str) -> Result:
        return runner.invoke(app, list(args), env=self.env)


def _value(output: str, name: str) -> str:
    found = re.search(rf"^{name}=(\S+)$", output, re.M)
    assert found, output
    return found[1]


def _issue_note(env: dict[str, str | None], ids: dict[str, str], chain: Chain) -> int:
    """A pending note of the core enterprise to the supplier (credit from the bank), for the freeze."""
    saved = dict(os.environ)
    os.environ.update({k: v for k, v in env.items() if v is not None})
    try:
        context = build_context(Settings())
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        with context.session() as session:
            members = {name: session.get(ApiMember, ids[name]) for name in ids}
        core, bank, supplier = (members[n] for n in ("core", "bank", "s1"))
        assert core is not None and bank is not None and supplier is not None
        ledger = context.ledger
        ledger.approve_financier(signer(context, core), bank.address)
        ledger.set_credit_limit(signer(context, bank), core.address, 10_000_000)
        maturity = int(chain.w3.eth.get_block("latest")["timestamp"]) + 90 * DAY
        issued = ledger.issue(
            signer(context, core), supplier.address, 1_000_000, "USD", maturity, b"\x01" * 32
        )
        return issued.created_note_ids()[0]
    finally:
        context.close()


@pytest.fixture(scope="module")
def deployment(anvil: Chain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    database_url = f"sqlite:///{tmp_path_factory.mktemp('operator') / 'gateway.sqlite'}"
    env: dict[str, str | None] = {name: None for name in os.environ if name.startswith("CREDCHAIN_")}
    env.update(
        CREDCHAIN_RPC_URL=str(anvil.w3.provider.endpoint_uri),  # type: ignore[attr-defined]
        CREDCHAIN_DATABASE_URL=database_url,
        CREDCHAIN_FUNDER_KEY=ANVIL_DEV_KEY,
        CREDCHAIN_FUNDING_WEI=str(10**18),
        CREDCHAIN_MASTER_SECRET=SECRET,
        CREDCHAIN_KEY_KDF_ITERATIONS="1",
    )
    init = runner.invoke(app, ["init"], env=env)
    assert init.exit_code == 0, init.output
    env["CREDCHAIN_CONTRACT_ADDRESS"] = _value(init.output, "CREDCHAIN_CONTRACT_ADDRESS")
    env["CREDCHAIN_FROM_BLOCK"] = _value(init.output, "CREDCHAIN_FROM_BLOCK")
    env["CREDCHAIN_RELAYER_KEY"] = (
        _value(init.output, "CREDCHAIN_RELAYER_KEY")
        if re.search(r"^CREDCHAIN_RELAYER_KEY=", init.output, re.M)
        else None
    )
    ids: dict[str, str] = {}
    addresses: dict[str, str] = {}
    for name, role in (("core", CORE_ENTERPRISE), ("bank", FINANCIER), ("s1", SUPPLIER)):
        added = runner.invoke(app, ["members", "add", "--name", name, "--role", role], env=env)
        assert added.exit_code == 0, added.output
        found = re.search(r"^member (m_[0-9a-f]+): .* at (0x[0-9a-fA-F]{40}) ", added.output, re.M)
        assert found, added.output
        ids[name], addresses[name] = found[1], found[2]
    note_id = _issue_note(env, ids, anvil)
    yield Deployment(
        env, LedgerClient(anvil.w3, str(env["CREDCHAIN_CONTRACT_ADDRESS"])), ids, addresses, note_id
    )


def _one_line_refusal(result: Result, code: int, text: str) -> None:
    assert result.exit_code == code, result.output
    assert result.stderr.count("\n") == 1 and text in result.stderr, result.stderr
    assert "Traceback" not in result.output


# ------------------------------------------------------------------ members


def test_members_list_prints_a_table_of_every_member(deployment: Deployment) -> None:
    result = deployment.invoke("members", "list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["id", "name", "roles", "status", "address"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows[deployment.ids["s1"]][1:] == ["s1", "supplier", "active", deployment.addresses["s1"]]


def test_members_list_json_answers_the_apis_member_list(deployment: Deployment) -> None:
    result = deployment.invoke("members", "list", "--json")
    assert result.exit_code == 0, result.output
    items = {m["id"]: m for m in json.loads(result.stdout)["items"]}
    assert items[deployment.ids["bank"]]["roles"] == ["financier"]
    assert set(deployment.ids.values()) < set(items)


def test_members_suspend_then_reinstate(deployment: Deployment) -> None:
    s1, address = deployment.ids["s1"], deployment.addresses["s1"]
    suspended = deployment.invoke("members", "suspend", s1)
    assert suspended.exit_code == 0, suspended.output
    assert re.fullmatch(rf"member {s1} is suspended \(tx 0x[0-9a-f]{{64}}\)\n", suspended.stdout)
    assert deployment.ledger.get_member(address).status is MemberStatus.SUSPENDED
    reinstated = deployment.invoke("members", "reinstate", s1)
    assert reinstated.exit_code == 0, reinstated.output
    assert f"member {s1} is active (tx 0x" in reinstated.stdout
    assert deployment.ledger.get_member(address).status is MemberStatus.ACTIVE


def test_members_suspend_of_an_unknown_member_is_one_line_exit_1(deployment: Deployment) -> None:
    _one_line_refusal(deployment.invoke("members", "suspend", "m_0000000000"), 1, "m_0000000000")


def test_members_reinstate_of_an_active_member_is_refused(deployment: Deployment) -> None:
    _one_line_refusal(deployment.invoke("members", "reinstate", deployment.ids["bank"]), 1, "not suspended")


# ------------------------------------------------------------------ notes


def test_notes_freeze_then_unfreeze(deployment: Deployment) -> None:
    note = str(deployment.note_id)
    frozen = deployment.invoke("notes", "freeze", note, "--reason", "court order 17")
    assert frozen.exit_code == 0, frozen.output
    assert re.fullmatch(rf"note {note} frozen \(tx 0x[0-9a-f]{{64}}\)\n", frozen.stdout)
    assert deployment.ledger.get_note(deployment.note_id).frozen
    unfrozen = deployment.invoke("notes", "unfreeze", note)
    assert unfrozen.exit_code == 0, unfrozen.output
    assert f"note {note} unfrozen (tx 0x" in unfrozen.stdout
    assert not deployment.ledger.get_note(deployment.note_id).frozen


def test_notes_freeze_of_a_missing_note_is_one_line_exit_1(deployment: Deployment) -> None:
    _one_line_refusal(deployment.invoke("notes", "freeze", "999999", "--reason", "x"), 1, "999999")


def test_notes_unfreeze_of_a_note_not_frozen_is_refused(deployment: Deployment) -> None:
    _one_line_refusal(deployment.invoke("notes", "unfreeze", str(deployment.note_id)), 1, "not frozen")


def test_notes_freeze_with_a_reason_over_32_bytes_is_a_usage_error(deployment: Deployment) -> None:
    result = deployment.invoke("notes", "freeze", str(deployment.note_id), "--reason", "x" * 33)
    assert result.exit_code == 2 and "--reason" in result.stderr


# ------------------------------------------------------------------ ledger settings


def test_ledger_settings_max_tenor_sets_days_and_prints_it(deployment: Deployment) -> None:
    set_it = deployment.invoke("ledger-settings", "max-tenor", "180")
    assert set_it.exit_code == 0, set_it.output
    assert re.fullmatch(r"maximum tenor set to 15552000 s \(P180D\) \(tx 0x[0-9a-f]{64}\)\n", set_it.stdout)
    assert deployment.ledger.max_tenor() == 180 * DAY
    shown = deployment.invoke("ledger-settings", "max-tenor")
    assert shown.exit_code == 0 and shown.stdout.startswith("maximum tenor: 15552000 s (P180D), set at block")


def test_ledger_settings_grace_period_sets_seconds(deployment: Deployment) -> None:
    set_it = deployment.invoke("ledger-settings", "grace-period", "--seconds", "129600")
    assert set_it.exit_code == 0, set_it.output
    assert "grace period set to 129600 s (P1DT12H)" in set_it.stdout
    assert deployment.ledger.grace_period() == 129_600


def test_ledger_settings_show_prints_every_setting(deployment: Deployment) -> None:
    assert deployment.invoke("ledger-settings", "min-part-amount", "EUR", "500").exit_code == 0
    result = deployment.invoke("ledger-settings", "show")
    assert result.exit_code == 0, result.output
    tenor = deployment.ledger.max_tenor()
    assert f"maximum tenor: {tenor} s" in result.stdout
    assert f"grace period: {deployment.ledger.grace_period()} s" in result.stdout
    assert "minimum part amount of EUR: 500 minor units" in result.stdout


def test_a_max_tenor_out_of_bounds_is_one_line_exit_1(deployment: Deployment) -> None:
    result = deployment.invoke("ledger-settings", "max-tenor", "3651")
    _one_line_refusal(result, 1, "between 1 days and 3650 days")


def test_a_grace_period_over_90_days_is_one_line_exit_1(deployment: Deployment) -> None:
    _one_line_refusal(deployment.invoke("ledger-settings", "grace-period", "91"), 1, "at most 90 days")


def test_days_and_seconds_together_are_a_usage_error(deployment: Deployment) -> None:
    result = deployment.invoke("ledger-settings", "max-tenor", "30", "--seconds", "100")
    assert result.exit_code == 2 and "not both" in result.stderr


def test_a_negative_tenor_is_a_usage_error(deployment: Deployment) -> None:
    result = deployment.invoke("ledger-settings", "max-tenor", "--seconds", "-5")
    assert result.exit_code == 2 and "--seconds" in result.stderr


# ------------------------------------------------------------------ settlement tokens


def test_tokens_register_deposit_withdraw_and_list(deployment: Deployment) -> None:
    registered = deployment.invoke("tokens", "register", "CHF")
    assert registered.exit_code == 0, registered.output
    found = re.fullmatch(
        r"CHF settlement token at (0x[0-9a-fA-F]{40}) \(tx 0x[0-9a-f]{64}\)\n", registered.stdout
    )
    assert found, registered.stdout
    assert deployment.ledger.settlement_token("CHF") == found[1]
    s1 = deployment.ids["s1"]
    deposited = deployment.invoke("tokens", "deposit", "CHF", s1, "250000", "--reference", "dep-1")
    assert deposited.exit_code == 0, deposited.output
    assert re.fullmatch(rf"{s1} now holds 250000 CHF minor units \(tx 0x[0-9a-f]{{64}}\)\n", deposited.stdout)
    withdrawn = deployment.invoke("tokens", "withdraw", "CHF", s1, "50000", "--reference", "pay-1")
    assert withdrawn.exit_code == 0, withdrawn.output
    assert f"{s1} now holds 200000 CHF minor units" in withdrawn.stdout
    listed = deployment.invoke("tokens", "list")
    assert listed.exit_code == 0 and f"CHF  {found[1]}  block " in listed.stdout


def test_tokens_register_of_a_registered_currency_is_refused(deployment: Deployment) -> None:
    assert deployment.invoke("tokens", "register", "JPY").exit_code == 0
    _one_line_refusal(deployment.invoke("tokens", "register", "JPY"), 1, "already has a settlement token")


def test_tokens_with_a_bad_currency_are_a_usage_error(deployment: Deployment) -> None:
    result = deployment.invoke("tokens", "deposit", "XXQ", deployment.ids["s1"], "1", "--reference", "r")
    assert result.exit_code == 2 and "CURRENCY" in result.stderr


def test_tokens_deposit_of_a_negative_amount_is_a_usage_error(deployment: Deployment) -> None:
    result = deployment.invoke(
        "tokens", "deposit", "USD", deployment.ids["s1"], "--reference", "r", "--", "-5"
    )
    assert result.exit_code == 2 and "AMOUNT" in result.stderr


def test_tokens_deposit_of_a_decimal_amount_is_a_usage_error(deployment: Deployment) -> None:
    result = deployment.invoke("tokens", "deposit", "USD", deployment.ids["s1"], "1.50", "--reference", "r")
    assert result.exit_code == 2 and "AMOUNT" in result.stderr


def test_tokens_deposit_to_an_unknown_member_is_one_line_exit_1(deployment: Deployment) -> None:
    assert deployment.invoke("tokens", "register", "GBP").exit_code == 0
    result = deployment.invoke("tokens", "deposit", "GBP", "m_0000000000", "100", "--reference", "r-unknown")
    _one_line_refusal(result, 1, "m_0000000000")


def test_tokens_deposit_in_a_currency_without_a_token_is_one_line_exit_1(deployment: Deployment) -> None:
    result = deployment.invoke("tokens", "deposit", "SEK", deployment.ids["s1"], "100", "--reference", "r")
    _one_line_refusal(result, 1, "SEK")


def test_tokens_withdraw_beyond_the_balance_is_one_line_exit_1(deployment: Deployment) -> None:
    assert deployment.invoke("tokens", "register", "AUD").exit_code == 0
    result = deployment.invoke("tokens", "withdraw", "AUD", deployment.ids["bank"], "1", "--reference", "w-1")
    _one_line_refusal(result, 1, "cannot be paid out")


# ------------------------------------------------------------------ every command: env, embedded, node


OPERATOR_COMMANDS = [
    ["members", "list"],
    ["members", "suspend", "m_1"],
    ["members", "reinstate", "m_1"],
    ["notes", "freeze", "1", "--reason", "x"],
    ["notes", "unfreeze", "1"],
    ["ledger-settings", "show"],
    ["ledger-settings", "max-tenor"],
    ["ledger-settings", "grace-period"],
    ["ledger-settings", "min-part-amount", "USD"],
    ["tokens", "list"],
    ["tokens", "register", "USD"],
    ["tokens", "deposit", "USD", "m_1", "1", "--reference", "r"],
    ["tokens", "withdraw", "USD", "m_1", "1", "--reference", "r"],
]


@pytest.mark.parametrize("command", OPERATOR_COMMANDS, ids=" ".join)
def test_operator_commands_refuse_the_embedded_mode(command: list[str], tmp_path: Path) -> None:
    env = {name: None for name in os.environ if name.startswith("CREDCHAIN_")}
    env.update(CREDCHAIN_RPC_URL="embedded", CREDCHAIN_DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite'}")
    result = runner.invoke(app, command, env=env)
    _one_line_refusal(result, 2, "needs a node: set CREDCHAIN_RPC_URL")


@pytest.mark.parametrize("command", [["ledger-settings", "show"], ["notes", "freeze"]], ids=" ".join)
def test_an_unreachable_node_is_one_line_exit_1(deployment: Deployment, command: list[str]) -> None:
    env = {**deployment.env, "CREDCHAIN_RPC_URL": "http://127.0.0.1:9"}
    if command[0] == "notes":  # the gateway's checks pass (SQL), the node is asked to sign
        command = [*command, str(deployment.note_id), "--reason", "dispute"]
    result = runner.invoke(app, command, env=env)
    _one_line_refusal(result, 1, "cannot be reached")


def _commands(group: object, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], object]]:
    subcommands = getattr(group, "commands", None)
    if subcommands is None:
        yield path, group
        return
    for name, command in subcommands.items():
        yield from _commands(command, (*path, name))


def test_every_rpc_and_database_url_option_reads_its_environment_variable() -> None:
    import typer.main

    root = typer.main.get_command(app)
    seen = 0
    for path, command in _commands(root):
        for param in getattr(command, "params", []):
            wanted = {"--rpc-url": "CREDCHAIN_RPC_URL", "--database-url": "CREDCHAIN_DATABASE_URL"}
            for option, variable in wanted.items():
                if option in getattr(param, "opts", []):
                    seen += 1
                    assert param.envvar == variable, (path, option)
                    assert param.help, (path, option)
    assert seen >= 30


def test_the_database_url_in_the_environment_is_used(deployment: Deployment, tmp_path: Path) -> None:
    elsewhere = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    result = runner.invoke(
        app, ["members", "list"], env={**deployment.env, "CREDCHAIN_DATABASE_URL": elsewhere}
    )
    _one_line_refusal(result, 1, "no credchain tables")
