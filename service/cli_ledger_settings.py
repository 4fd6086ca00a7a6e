"""`credchain ledger-settings`: print or set the rules the operator sets on the ledger: the maximum
tenor, the grace period, the minimum part amount per currency (the domain services of
`service.api.ledger_settings`, signed by the operator's custodial key)."""

from __future__ import annotations

from typing import Annotated

import typer

from service.api.ledger_settings.schemas import DurationOut
from service.api.ledger_settings.service import (
    GRACE_PERIOD,
    MAX_TENOR,
    apply_duration,
    apply_min_part_amount,
    read_ledger_settings,
    read_min_part_amount,
)
from service.api.params import is_currency_code
from service.cli_common import (
    OptionalDatabaseUrl,
    OptionalRpcUrl,
    node_context,
    operator_member,
    refusal_exits,
)
from service.domain import SECONDS_PER_DAY

settings_app = typer.Typer(help="Rules the operator sets on the ledger.", no_args_is_help=True)

LABELS = {MAX_TENOR: "maximum tenor", GRACE_PERIOD: "grace period"}
Days = Annotated[
    int | None, typer.Argument(min=0, help="whole days; omit (and --seconds) to print the current value")
]
Seconds = Annotated[int | None, typer.Option("--seconds", min=0, help="seconds instead of DAYS")]


def _duration_line(label: str, out: DurationOut) -> str:
    changed = f"set at block {out.updated_block}" if out.updated_block is not None else "the default"
    return f"{label}: {out.seconds} s ({out.duration}), {changed}"


@settings_app.command("show")
def show(rpc_url: OptionalRpcUrl = None, database_url: OptionalDatabaseUrl = None) -> None:
    """Print every ledger setting as indexed: maximum tenor, grace period, minimum part amounts."""
    with node_context(rpc_url, database_url, "`credchain ledger-settings show`", signs=False) as context:
        out = read_ledger_settings(context)
    typer.echo(_duration_line(LABELS[MAX_TENOR], out.max_tenor))
    typer.echo(_duration_line(LABELS[GRACE_PERIOD], out.grace_period))
    for minimum in out.min_part_amounts:
        typer.echo(f"minimum part amount of {minimum.currency}: {minimum.amount} minor units")
    if not out.min_part_amounts:
        typer.echo("minimum part amounts: none")


def _print_or_set(
    setting: str, days: int | None, seconds: int | None, rpc_url: str | None, database_url: str | None
) -> None:
    if days is not None and seconds is not None:
        raise typer.BadParameter("give DAYS or --seconds, not both", param_hint="--seconds")
    value = seconds if days is None else days * SECONDS_PER_DAY
    command = f"`credchain ledger-settings {setting.replace('_', '-')}`"
    with (
        node_context(rpc_url, database_url, command, signs=value is not None) as context,
        refusal_exits(),
    ):
        if value is None:
            typer.echo(_duration_line(LABELS[setting], getattr(read_ledger_settings(context), setting)))
            return
        written = apply_duration(context, operator_member(context), setting, value)
    out: DurationOut = getattr(written.ledger_settings, setting)
    typer.echo(f"{LABELS[setting]} set to {out.seconds} s ({out.duration}) (tx {written.tx_hash})")


@settings_app.command("max-tenor")
def max_tenor(
    days: Days = None,
    seconds: Seconds = None,
    rpc_url: OptionalRpcUrl = None,
    database_url: OptionalDatabaseUrl = None,
) -> None:
    """Print, or set, the longest time from issue to maturity (1 to 3650 days)."""
    _print_or_set(MAX_TENOR, days, seconds, rpc_url, database_url)


@settings_app.command("grace-period")
def grace_period(
    days: Days = None,
    seconds: Seconds = None,
    rpc_url: OptionalRpcUrl = None,
    database_url: OptionalDatabaseUrl = None,
) -> None:
    """Print, or set, how long after maturity an unpaid note becomes overdue (0 to 90 days)."""
    _print_or_set(GRACE_PERIOD, days, seconds, rpc_url, database_url)


@settings_app.command("min-part-amount")
def min_part_amount_command(
    currency: Annotated[str, typer.Argument(help="ISO 4217 code, e.g. USD")],
    amount: Annotated[
        int | None,
        typer.Argument(min=0, help="minor units (0 lifts the minimum); omit to print the current one"),
    ] = None,
    rpc_url: OptionalRpcUrl = None,
    database_url: OptionalDatabaseUrl = None,
) -> None:
    """Print, or set (signed by the operator's custodial key), the smallest note or split part
    allowed in a currency."""
    if not is_currency_code(currency.upper()):
        raise typer.BadParameter(f"{currency!r} is not an ISO 4217 currency code", param_hint="CURRENCY")
    command = "`credchain ledger-settings min-part-amount`"
    with (
        node_context(rpc_url, database_url, command, signs=amount is not None) as context,
        refusal_exits(),
    ):
        if amount is None:
            current = read_min_part_amount(context, currency.upper())
            typer.echo(f"minimum part amount of {current.currency}: {current.amount} minor units")
            return
        written = apply_min_part_amount(context, operator_member(context), currency.upper(), amount)
    out = written.min_part_amount
    typer.echo(
        f"minimum part amount of {out.currency} set to {out.amount} minor units (tx {written.tx_hash})"
    )
