"""`credchain funding`: what pays the gas in node mode (`status`) and topping a member's custodial
account (or the relayer) up from the funder (`top-up`). The funder's key comes from the environment
(CREDCHAIN_FUNDER_KEY, e.g. exported from a secret store), never from the command line."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Annotated

import typer

from service.api.context import AppContext, build_context
from service.api.funding.schemas import FundingStatus, parse_wei
from service.api.funding.service import (
    announce,
    chain_status,
    ether_text,
    funding_status,
    parse_ether,
    status_lines,
    top_up,
)
from service.api.problems import ledger_problem
from service.cli_common import (
    OptionalDatabaseUrl,
    OptionalRpcUrl,
    not_embedded,
    refusal_exits,
    require_contract_address,
    require_secure,
    settings_from,
)
from service.ledger.chain import Chain
from service.ledger.errors import LedgerError
from service.settings import Settings

funding_app = typer.Typer(
    help="Gas for the accounts the gateway signs with (against a node).", no_args_is_help=True
)


def _context(rpc_url: str | None, database_url: str | None, what: str) -> AppContext:
    settings = settings_from(rpc_url=rpc_url, database_url=database_url)
    not_embedded(settings, what)
    require_secure(settings)
    require_contract_address(settings)
    return build_context(settings)


def _amount(wei: str | None, eth: str | None) -> int:
    """The top-up in wei from exactly one of --wei (integer) and --eth (decimal ether); exit 2 else."""
    if (wei is None) == (eth is None):
        raise typer.BadParameter("give exactly one of --wei and --eth", param_hint="--wei / --eth")
    try:
        return parse_wei(wei) if wei is not None else parse_ether(str(eth))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--wei" if wei is not None else "--eth") from exc


@funding_app.command("status")
def status_command(rpc_url: OptionalRpcUrl = None, database_url: OptionalDatabaseUrl = None) -> None:
    """Print the funder and its balance, the ether each new custodial account gets, what one write
    may cost, the relayer's balance, and the custodial accounts below that cost."""
    context = _context(rpc_url, database_url, "`credchain funding status`")
    try:
        status = funding_status(context)
    except LedgerError as exc:
        typer.echo(f"failed: {ledger_problem(exc).title}", err=True)
        raise typer.Exit(code=1) from exc
    finally:
        context.close()
    for line in status_lines(status):
        typer.echo(line)


@funding_app.command("top-up")
def top_up_command(
    member_id: Annotated[str, typer.Argument(help="the member's id (e.g. m_3010afee3d), or `relayer`")],
    wei: Annotated[str | None, typer.Option("--wei", help="amount in wei (an integer)")] = None,
    eth: Annotated[str | None, typer.Option("--eth", help="amount in ether (a decimal, e.g. 0.5)")] = None,
    rpc_url: OptionalRpcUrl = None,
    database_url: OptionalDatabaseUrl = None,
) -> None:
    """Send ether for gas from the funder (CREDCHAIN_FUNDER_KEY) to a member's account."""
    amount = _amount(wei, eth)
    context = _context(rpc_url, database_url, "`credchain funding top-up`")
    try:
        with refusal_exits():
            done = top_up(context, member_id, amount)
    finally:
        context.close()
    balance = int(done.balance_wei)
    typer.echo(
        f"topped up {done.member_id} at {done.address} with {ether_text(amount)} ({amount} wei); "
        f"balance now {ether_text(balance)} ({balance} wei) (tx {done.tx_hash})"
    )


def announce_funding(context: AppContext) -> None:
    """At the start of a command against a node: log what pays the gas (one structured line) and,
    on a terminal, say it in words; a node that cannot be asked only costs a warning here."""
    _announce(lambda: funding_status(context))


def announce_chain_funding(settings: Settings, chain: Chain, relayer: str | None) -> None:
    """`announce_funding` before a gateway's database exists (`credchain init`): funder, per-account
    funding and relayer only."""
    _announce(lambda: chain_status(settings, chain, relayer))


def _announce(read: Callable[[], FundingStatus]) -> None:
    """Log the funding `read` gives (one structured line) and, on a terminal, say it in words."""
    try:
        status = read()
    except LedgerError as exc:
        logging.getLogger("credchain.funding").warning("funding: the node cannot be asked (%s)", exc)
        return
    announce(status)
    if sys.stderr.isatty():
        for line in status_lines(status):
            typer.echo(line, err=True)
