"""`credchain members`: onboard, list, suspend and reinstate the gateway's members (the domain
services of `service.api.members`, signed by the operator's custodial key)."""

from __future__ import annotations

from typing import Annotated

import typer
from web3 import Web3

from service.api.members.service import change_member_status, list_members, onboard_member
from service.cli_common import (
    OptionalDatabaseUrl,
    OptionalRpcUrl,
    node_context,
    operator_member,
    refusal_exits,
)
from service.cli_funding import announce_funding
from service.domain import ONBOARDABLE_ROLES

members_app = typer.Typer(help="Gateway members.", no_args_is_help=True)

MemberId = Annotated[str, typer.Argument(help="the member's id, e.g. m_3010afee3d")]
TABLE_COLUMNS = ("id", "name", "roles", "status", "address")


@members_app.command("add")
def members_add(
    name: Annotated[str, typer.Option("--name", help="the member's name")],
    role: Annotated[
        list[str],
        typer.Option("--role", help=f"one of {', '.join(ONBOARDABLE_ROLES)}; repeat for several"),
    ],
    address: Annotated[
        str | None,
        typer.Option(
            "--address", help="the member's own address (self-custodied); default: a new custodial key"
        ),
    ] = None,
    rpc_url: OptionalRpcUrl = None,
    database_url: OptionalDatabaseUrl = None,
) -> None:
    """Onboard a member (on the ledger, signed by the operator's custodial key, and in the gateway)
    and print its id and its API key, shown once."""
    unknown = sorted(set(role) - set(ONBOARDABLE_ROLES))
    if unknown:
        raise typer.BadParameter(
            f"{', '.join(unknown)}: roles are {', '.join(ONBOARDABLE_ROLES)}", param_hint="--role"
        )
    if address is not None and not Web3.is_address(address):
        raise typer.BadParameter(f"{address!r} is not an address", param_hint="--address")
    if not name.strip() or len(name) > 200:
        raise typer.BadParameter("1 to 200 characters", param_hint="--name")
    with (
        node_context(rpc_url, database_url, "`credchain members add`", signs=True) as context,
        refusal_exits(),
    ):
        announce_funding(context)
        created = onboard_member(context, operator_member(context), name, role, address)
    typer.echo(
        f"member {created.id}: {created.name}, {', '.join(created.roles)}, {created.custody} "
        f"at {created.address} (tx {created.tx_hash})"
    )
    typer.echo(f"API key of {created.id} (shown once): {created.api_key}")


@members_app.command("list")
def members_list(
    as_json: Annotated[bool, typer.Option("--json", help="print the members as one JSON object")] = False,
    rpc_url: OptionalRpcUrl = None,
    database_url: OptionalDatabaseUrl = None,
) -> None:
    """List the gateway's members with their roles and their status on the ledger."""
    with node_context(rpc_url, database_url, "`credchain members list`", signs=False) as context:
        members = list_members(context)
    if as_json:
        typer.echo(members.model_dump_json())
        return
    rows = [(m.id, m.name, ",".join(m.roles), m.status, m.address) for m in members.items]
    widths = [max(len(v) for v in column) for column in zip(TABLE_COLUMNS, *rows, strict=True)]
    for row in (TABLE_COLUMNS, *rows):
        typer.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def _change_status(member_id: str, suspend: bool, rpc_url: str | None, database_url: str | None) -> None:
    what = "`credchain members suspend`" if suspend else "`credchain members reinstate`"
    with node_context(rpc_url, database_url, what, signs=True) as context, refusal_exits():
        changed = change_member_status(context, operator_member(context), member_id, suspend=suspend)
    typer.echo(f"member {changed.member.id} is {changed.member.status} (tx {changed.tx_hash})")


@members_app.command("suspend")
def members_suspend(
    member_id: MemberId, rpc_url: OptionalRpcUrl = None, database_url: OptionalDatabaseUrl = None
) -> None:
    """Suspend a member on the ledger: it can no longer issue, accept, move or be paid notes."""
    _change_status(member_id, True, rpc_url, database_url)


@members_app.command("reinstate")
def members_reinstate(
    member_id: MemberId, rpc_url: OptionalRpcUrl = None, database_url: OptionalDatabaseUrl = None
) -> None:
    """Lift a member's suspension."""
    _change_status(member_id, False, rpc_url, database_url)
