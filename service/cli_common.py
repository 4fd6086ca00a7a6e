"""What the `credchain` command groups share: option types, settings, the operator, refusals.

Every `--rpc-url` and `--database-url` also reads CREDCHAIN_RPC_URL and CREDCHAIN_DATABASE_URL (typer
shows the variable in each command's help)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, TypeVar

import typer
from pydantic import BaseModel, ValidationError

from service.api.context import AppContext, build_context
from service.api.problems import ProblemError, ledger_problem
from service.cli_errors import remember_endpoints
from service.db.gateway_models import ApiMember
from service.domain import OPERATOR_ID
from service.ledger.errors import LedgerError
from service.settings import InsecureMasterSecret, Settings, require_master_secret

Model = TypeVar("Model", bound=BaseModel)

DEFAULT_DATABASE_URL = "sqlite:///var/credchain.sqlite"

RPC_URL_HELP = "JSON-RPC URL of the node"
DATABASE_URL_HELP = "SQLAlchemy database URL"

RpcUrl = Annotated[str, typer.Option("--rpc-url", envvar="CREDCHAIN_RPC_URL", help=RPC_URL_HELP)]
DatabaseUrl = Annotated[
    str, typer.Option("--database-url", envvar="CREDCHAIN_DATABASE_URL", help=DATABASE_URL_HELP)
]
OptionalRpcUrl = Annotated[
    str | None,
    typer.Option("--rpc-url", envvar="CREDCHAIN_RPC_URL", help=f"{RPC_URL_HELP}; default: embedded"),
]
"""`--rpc-url` of the commands configured like the gateway (`Settings`): unset, its default."""
OptionalDatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="CREDCHAIN_DATABASE_URL",
        help=f"{DATABASE_URL_HELP}; default: {DEFAULT_DATABASE_URL}",
    ),
]
"""`--database-url` of the commands configured like the gateway (`Settings`): unset, its default."""


def settings_from(**overrides: object) -> Settings:
    """The gateway's settings (CREDCHAIN_*), options given on the command line taking precedence."""
    values = {k: v for k, v in overrides.items() if v is not None}
    settings = Settings(**values)  # type: ignore[arg-type]
    remember_endpoints(settings.rpc_url, settings.database_url)
    return settings


def require_secure(settings: Settings) -> None:
    """Exit 2 with the reason if the master secret may not guard custodial keys here."""
    try:
        require_master_secret(settings)
    except InsecureMasterSecret as exc:
        typer.echo(f"refusing to start: {exc}", err=True)
        raise typer.Exit(code=2) from exc


def not_embedded(settings: Settings, what: str) -> None:
    if settings.embedded:
        typer.echo(
            f"{what} needs a node: set CREDCHAIN_RPC_URL (the embedded chain lives only inside "
            "`credchain run`)",
            err=True,
        )
        raise typer.Exit(code=2)


def require_contract_address(settings: Settings) -> None:
    if settings.contract_address is None:
        typer.echo("no contract address: set CREDCHAIN_CONTRACT_ADDRESS (see `credchain init`)", err=True)
        raise typer.Exit(code=2)


@contextmanager
def node_context(
    rpc_url: str | None, database_url: str | None, what: str, *, signs: bool
) -> Iterator[AppContext]:
    """The gateway's context for a command against a node (`what` names it in the refusal of the
    embedded mode), its index caught up with the node's head (the command's checks and answers are
    as of now); `signs`: it signs with a custodial key, so the master secret must be safe."""
    settings = settings_from(rpc_url=rpc_url, database_url=database_url)
    not_embedded(settings, what)
    if signs:
        require_secure(settings)
    require_contract_address(settings)
    context = build_context(settings)
    try:
        wait_for_head(context)
        yield context
    finally:
        context.close()


def operator_member(context: AppContext) -> ApiMember:
    """The gateway's operator member (exit 1 if `credchain init` never made it)."""
    with context.session() as session:
        operator = session.get(ApiMember, OPERATOR_ID)
    if operator is None:
        typer.echo("no operator in the gateway's database: run `credchain init` first", err=True)
        raise typer.Exit(code=1)
    return operator


@contextmanager
def refusal_exits() -> Iterator[None]:
    """A refusal of the gateway's checks or of the ledger: one line on stderr and exit 1."""
    try:
        yield
    except ProblemError as exc:
        typer.echo(f"refused: {exc.title}: {exc.detail or exc.slug}", err=True)
        raise typer.Exit(code=1) from exc
    except LedgerError as exc:
        typer.echo(f"refused: {ledger_problem(exc).title}: {exc}", err=True)
        raise typer.Exit(code=1) from exc


def wait_for_head(context: AppContext) -> None:
    """Let the index catch up with the node's head before a read (the answer is as of now). A
    database `credchain init` never set up fails here at once (one line: no credchain tables),
    not after the write wait's retries."""
    context.index.indexer.store.position()
    context.wait_indexed(int(context.chain.w3.eth.block_number))


def validated(model: type[Model], hints: dict[str, str], **values: object) -> Model:
    """`model` (the API's request model) of the command's arguments, validated as the API validates
    them; the first error is a usage error (exit 2) naming the argument (`hints`: field -> name)."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else ""
        message = str(error["msg"]).removeprefix("Value error, ")
        raise typer.BadParameter(message, param_hint=hints.get(field, field)) from exc
