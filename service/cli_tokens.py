"""`credchain tokens`: the settlement tokens, as the settlement bank handles them: list, register a
currency's token, mint against a deposit, burn on a payout (the domain services of
`service.api.tokens`, signed by the operator's custodial key). Amounts are integers of minor units."""

from __future__ import annotations

from typing import Annotated

import typer

from service.api.tokens.schemas import AccountWrite, TokenMovement, TokenRegister
from service.api.tokens.service import apply_movement, apply_registration, registered_tokens
from service.cli_common import (
    OptionalDatabaseUrl,
    OptionalRpcUrl,
    node_context,
    operator_member,
    refusal_exits,
    validated,
)

tokens_app = typer.Typer(help="Settlement tokens (tokenized deposits) per currency.", no_args_is_help=True)

CurrencyArgument = Annotated[str, typer.Argument(help="ISO 4217 code, e.g. USD")]
MemberArgument = Annotated[str, typer.Argument(help="the member's id, e.g. m_3010afee3d")]
AmountArgument = Annotated[str, typer.Argument(help="minor units, a positive integer (12345 = 123.45 USD)")]
Reference = Annotated[
    str,
    typer.Option(
        "--reference", help="the settlement bank's reference (at most 32 bytes; each moves money once)"
    ),
]
MOVEMENT_HINTS = {"member": "MEMBER_ID", "amount": "AMOUNT", "reference": "--reference"}


@tokens_app.command("list")
def tokens_list(rpc_url: OptionalRpcUrl = None, database_url: OptionalDatabaseUrl = None) -> None:
    """List the registered settlement tokens: currency, token address, registration block."""
    with node_context(rpc_url, database_url, "`credchain tokens list`", signs=False) as context:
        tokens = registered_tokens(context)
    for token in tokens.items:
        typer.echo(f"{token.currency}  {token.token}  block {token.registered_block}")


@tokens_app.command("register")
def tokens_register(
    currency: CurrencyArgument,
    decimals: Annotated[int, typer.Option("--decimals", help="minor-unit digits of the currency")] = 2,
    rpc_url: OptionalRpcUrl = None,
    database_url: OptionalDatabaseUrl = None,
) -> None:
    """Deploy the settlement token of a currency and register it with the ledger (once per currency)."""
    body = validated(
        TokenRegister,
        {"currency": "CURRENCY", "decimals": "--decimals"},
        currency=currency,
        decimals=decimals,
    )
    with (
        node_context(rpc_url, database_url, "`credchain tokens register`", signs=True) as context,
        refusal_exits(),
    ):
        written = apply_registration(context, operator_member(context), body.currency, body.decimals)
    typer.echo(f"{written.token.currency} settlement token at {written.token.token} (tx {written.tx_hash})")


def _move(
    currency: str,
    member_id: str,
    amount: str,
    reference: str,
    deposit: bool,
    rpc_url: str | None,
    database_url: str | None,
) -> AccountWrite:
    code = validated(TokenRegister, {"currency": "CURRENCY"}, currency=currency).currency
    body = validated(TokenMovement, MOVEMENT_HINTS, member=member_id, amount=amount, reference=reference)
    what = "`credchain tokens deposit`" if deposit else "`credchain tokens withdraw`"
    with node_context(rpc_url, database_url, what, signs=True) as context, refusal_exits():
        return apply_movement(
            context, operator_member(context), code, body.member, body.amount, body.reference, deposit
        )


def _account_line(written: AccountWrite) -> str:
    account = written.account
    return (
        f"{account.member} now holds {account.balance} {account.currency} minor units (tx {written.tx_hash})"
    )


@tokens_app.command("deposit")
def tokens_deposit(
    currency: CurrencyArgument,
    member_id: MemberArgument,
    amount: AmountArgument,
    reference: Reference,
    rpc_url: OptionalRpcUrl = None,
    database_url: OptionalDatabaseUrl = None,
) -> None:
    """The settlement bank received AMOUNT from a member: mint it as settlement tokens."""
    typer.echo(_account_line(_move(currency, member_id, amount, reference, True, rpc_url, database_url)))


@tokens_app.command("withdraw")
def tokens_withdraw(
    currency: CurrencyArgument,
    member_id: MemberArgument,
    amount: AmountArgument,
    reference: Reference,
    rpc_url: OptionalRpcUrl = None,
    database_url: OptionalDatabaseUrl = None,
) -> None:
    """The settlement bank paid AMOUNT out to a member: burn that many of its tokens."""
    typer.echo(_account_line(_move(currency, member_id, amount, reference, False, rpc_url, database_url)))
