"""The `credchain` command's failures: one line on stderr, an exit code, never a traceback."""

from __future__ import annotations

import sqlite3
from importlib.metadata import version
from pathlib import Path

import pytest
import typer
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner
from web3.exceptions import ProviderConnectionError

from service.cli import app
from service.cli_errors import ErrorMappingGroup, remember_endpoints
from service.db.migrate import upgrade
from service.ledger.errors import LedgerUnavailable, NotOperator

CONTRACT = "0x" + "12" * 20


def _failing_app(exc: Exception) -> typer.Typer:
    """An app with the CLI's error mapping whose one command raises `exc`."""
    failing = typer.Typer(cls=ErrorMappingGroup)

    @failing.command()
    def fail() -> None:
        remember_endpoints("http://operator:hunter2@node.example:8545/v3/apikey", None)
        raise exc

    @failing.command()
    def other() -> None:  # two commands: `fail` stays a subcommand
        pass

    return failing


def test_a_bad_contract_address_is_a_usage_error_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["reconcile", "--contract", "0xbad", "--database-url", f"sqlite:///{tmp_path / 'x.sqlite'}"]
    )
    assert result.exit_code == 2
    assert "'0xbad' is not an address" in result.stderr
    assert "Traceback" not in result.output


def test_an_unreachable_node_is_one_line_exit_1_without_credentials(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'x.sqlite'}"
    upgrade(database)
    result = CliRunner().invoke(
        app,
        [
            "reconcile",
            "--contract",
            CONTRACT,
            "--rpc-url",
            "http://operator:hunter2@127.0.0.1:1/v3/apikey",
            "--database-url",
            database,
            "--log-format",
            "json",
        ],
    )
    assert result.exit_code == 1
    assert result.stderr == "error: the ledger node at http://127.0.0.1:1 cannot be reached\n"
    assert "hunter2" not in result.output and "apikey" not in result.output
    assert result.stdout == ""


def test_a_database_without_the_index_tables_says_so_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["keys", "issue", "m_x", "--database-url", f"sqlite:///{tmp_path / 'empty.sqlite'}"]
    )
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: the database sqlite:///{tmp_path / 'empty.sqlite'} has no credchain tables "
        "(run `credchain init` or `credchain index` first)\n"
    )


def test_an_unreachable_database_is_one_line_exit_1_without_the_password() -> None:
    result = CliRunner().invoke(
        app,
        ["keys", "issue", "m_x", "--database-url", "postgresql+psycopg://admin:hunter2@127.0.0.1:1/ledger"],
    )
    assert result.exit_code == 1
    assert result.stderr == "error: the database cannot be reached (postgresql://127.0.0.1:1/ledger)\n"
    assert result.stdout == ""


def test_a_ledger_revert_is_one_line_exit_1_with_the_error_name_and_arguments() -> None:
    result = CliRunner().invoke(_failing_app(NotOperator({"caller": CONTRACT})), ["fail"])
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: the ledger refused: NotOperator(caller='{CONTRACT}'): only the operator may do this\n"
    )


@pytest.mark.parametrize(
    "exc",
    [ConnectionRefusedError(111, "refused"), ProviderConnectionError("down"), LedgerUnavailable("timeout")],
    ids=["os", "web3", "ledger"],
)
def test_a_connection_error_names_the_node_without_userinfo_path_or_query(exc: Exception) -> None:
    result = CliRunner().invoke(_failing_app(exc), ["fail"])
    assert result.exit_code == 1
    assert result.stderr == "error: the ledger node at http://node.example:8545 cannot be reached\n"


def test_an_unexpected_error_is_one_line_exit_70_pointing_at_the_debug_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CREDCHAIN_DEBUG", raising=False)
    result = CliRunner().invoke(_failing_app(KeyError("surprise")), ["fail"])
    assert result.exit_code == 70
    assert result.stderr == (
        "error: unexpected KeyError: 'surprise' (run with CREDCHAIN_DEBUG=1 for the traceback)\n"
    )


def test_credchain_debug_adds_the_traceback_to_an_unexpected_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDCHAIN_DEBUG", "1")
    result = CliRunner().invoke(_failing_app(KeyError("surprise")), ["fail"])
    assert result.exit_code == 70
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert result.stderr.splitlines()[-1].startswith("error: unexpected KeyError: 'surprise'")


def test_version_prints_the_package_version_and_exits_0() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"credchain {version('credchain')}\n"


def test_a_bad_currency_is_a_usage_error_exit_2_before_any_node_is_asked() -> None:
    result = CliRunner().invoke(
        app, ["ledger-settings", "min-part-amount", "ZZQ", "--rpc-url", "http://127.0.0.1:1"]
    )
    assert result.exit_code == 2
    assert "'ZZQ' is not an ISO 4217 currency code" in result.stderr


def test_a_negative_amount_is_a_usage_error_exit_2() -> None:
    result = CliRunner().invoke(
        app, ["ledger-settings", "min-part-amount", "USD", "-5", "--rpc-url", "http://127.0.0.1:1"]
    )
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_an_unknown_member_id_names_the_database_without_the_password(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'gateway.sqlite'}"
    upgrade(database)
    result = CliRunner().invoke(app, ["keys", "issue", "m_nobody", "--database-url", database])
    assert result.exit_code == 1
    assert result.stderr == f"no member 'm_nobody' in sqlite:///{tmp_path / 'gateway.sqlite'}\n"


def test_a_locked_sqlite_database_is_refused_not_unreachable() -> None:
    locked = OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked"))
    result = CliRunner().invoke(_failing_app(locked), ["fail"])
    assert result.exit_code == 1
    assert result.stderr == "error: the database refused: database is locked\n"


def test_an_sqlite_file_that_cannot_be_opened_is_unreachable(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.sqlite'}"
    result = CliRunner().invoke(app, ["keys", "issue", "m_x", "--database-url", database])
    assert result.exit_code == 1
    assert (
        result.stderr == f"error: the database cannot be reached (sqlite:///{tmp_path}/no/such/dir.sqlite)\n"
    )
