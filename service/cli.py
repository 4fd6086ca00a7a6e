"""The `credchain` command.

    credchain index --rpc-url http://127.0.0.1:8545 --database-url postgresql+psycopg://... \\
        --contract 0x... --from-block 0 --confirmations 2 --poll-interval 2
    credchain reconcile --rpc-url ... --database-url ... --contract 0x...

Every option can also come from a CREDCHAIN_* environment variable (CREDCHAIN_RPC_URL,
CREDCHAIN_DATABASE_URL, CREDCHAIN_DATABASE_SCHEMA, CREDCHAIN_CONTRACT_ADDRESS, CREDCHAIN_FROM_BLOCK,
CREDCHAIN_CONFIRMATIONS, CREDCHAIN_POLL_INTERVAL, ...).
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
import uvicorn
from eth_account import Account
from eth_account.signers.local import LocalAccount

from service.api.app import create_app
from service.api.bootstrap import OPERATOR_ID, UnknownMember, deploy, register_operator, reissue_api_key
from service.api.context import AppContext, build_context
from service.api.keyring import Keyring
from service.api.seed import DEFAULT_CREDENTIALS, Credential, seed_demo, write_credentials
from service.db.migrate import downgrade, upgrade
from service.db.session import make_engine, make_session_factory
from service.indexer.indexer import Indexer, IndexerConfig, http_web3
from service.indexer.reconcile import reconcile as run_reconcile
from service.ledger.chain import Chain, http_chain, in_process_chain
from service.ledger.client import LedgerClient
from service.logging_setup import configure_logging
from service.settings import Settings

app = typer.Typer(help="credchain: splittable credit notes on a permissioned ledger.", no_args_is_help=True)

DEFAULT_DATABASE_URL = "sqlite:///var/credchain.sqlite"

RpcUrl = Annotated[
    str, typer.Option("--rpc-url", envvar="CREDCHAIN_RPC_URL", help="JSON-RPC endpoint of a node")
]
DatabaseUrl = Annotated[
    str, typer.Option("--database-url", envvar="CREDCHAIN_DATABASE_URL", help="SQLAlchemy database URL")
]
DatabaseSchema = Annotated[
    str | None,
    typer.Option("--database-schema", envvar="CREDCHAIN_DATABASE_SCHEMA", help="PostgreSQL schema to use"),
]
Contract = Annotated[
    str,
    typer.Option(
        "--contract",
        envvar=["CREDCHAIN_CONTRACT_ADDRESS", "CREDCHAIN_CONTRACT"],
        help="address of the CreditNoteLedger (the gateway's CREDCHAIN_CONTRACT_ADDRESS)",
    ),
]
FromBlock = Annotated[
    int,
    typer.Option(
        "--from-block", envvar="CREDCHAIN_FROM_BLOCK", help="first block to index (deployment block)"
    ),
]
LogLevel = Annotated[str, typer.Option("--log-level", envvar="CREDCHAIN_LOG_LEVEL")]
LogFormat = Annotated[
    str,
    typer.Option(
        "--log-format", envvar="CREDCHAIN_LOG_FORMAT", help="json (one object per line) or text, on stderr"
    ),
]


def _ensure_sqlite_dir(url: str) -> None:
    """SQLite creates the file, not its directory (the default lives in var/)."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and ":memory:" not in url:
        Path(url[len(prefix) :]).parent.mkdir(parents=True, exist_ok=True)


def _require_contract(contract: str) -> None:
    if not contract:
        raise typer.BadParameter(
            "--contract (or CREDCHAIN_CONTRACT_ADDRESS) is required", param_hint="--contract"
        )


def _logging(level: str, fmt: str = "text") -> None:
    if fmt not in ("json", "text"):
        raise typer.BadParameter("json or text", param_hint="--log-format")
    configure_logging(level, fmt)


@app.command()
def index(
    rpc_url: RpcUrl = "http://127.0.0.1:8545",
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
    database_schema: DatabaseSchema = None,
    contract: Contract = "",
    from_block: FromBlock = 0,
    confirmations: Annotated[
        int,
        typer.Option(
            "--confirmations", envvar="CREDCHAIN_CONFIRMATIONS", help="blocks to stay behind the head"
        ),
    ] = 0,
    poll_interval: Annotated[
        float, typer.Option("--poll-interval", envvar="CREDCHAIN_POLL_INTERVAL", help="seconds between polls")
    ] = 2.0,
    until_block: Annotated[
        int | None,
        typer.Option(
            "--until-block", envvar="CREDCHAIN_UNTIL_BLOCK", help="backfill up to this block, then exit"
        ),
    ] = None,
    max_range: Annotated[
        int, typer.Option("--max-range", envvar="CREDCHAIN_MAX_RANGE", help="most blocks per eth_getLogs")
    ] = 100_000,
    keep_blocks: Annotated[
        int,
        typer.Option(
            "--keep-blocks", envvar="CREDCHAIN_KEEP_BLOCKS", help="deepest reorg that can be undone"
        ),
    ] = 128,
    migrate: Annotated[
        bool, typer.Option("--migrate/--no-migrate", help="run the database migrations first")
    ] = True,
    log_level: LogLevel = "INFO",
    log_format: LogFormat = "text",
) -> None:
    """Index the ledger's events into SQL: follow the head, or backfill up to --until-block."""
    _logging(log_level, log_format)
    _require_contract(contract)
    _ensure_sqlite_dir(database_url)
    if migrate:
        upgrade(database_url, database_schema)
    engine = make_engine(database_url, schema=database_schema)
    config = IndexerConfig(
        contract=contract,
        from_block=from_block,
        confirmations=confirmations,
        poll_interval=poll_interval,
        initial_range=min(2_000, max_range),
        max_range=max_range,
        keep_blocks=keep_blocks,
    )
    indexer = Indexer(http_web3(rpc_url), engine, config)
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("credchain.indexer").info("signal %s: stopping after the current batch", signum)
        stop.set()
        indexer.stop(timeout=0)

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    log = logging.getLogger("credchain.indexer")
    log.info(
        "indexing %s from block %s into %s",
        indexer.contract,
        indexer.last_block() + 1,
        engine.url.render_as_string(hide_password=True),
    )
    try:
        if until_block is not None:
            last = indexer.run_until(until_block)
            log.info("indexed up to block %s (%s events this run)", last, indexer.stats.events)
        else:
            indexer.run(stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        engine.dispose()


@app.command()
def reconcile(
    rpc_url: RpcUrl = "http://127.0.0.1:8545",
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
    database_schema: DatabaseSchema = None,
    contract: Contract = "",
    from_block: FromBlock = 0,
    at_block: Annotated[
        int | None, typer.Option("--at-block", help="compare at this block (default: the index's checkpoint)")
    ] = None,
    events: Annotated[
        bool, typer.Option("--events/--no-events", help="also compare the events table with the chain's logs")
    ] = True,
    log_level: LogLevel = "WARNING",
    log_format: LogFormat = "text",
) -> None:
    """Compare SQL with the chain's state; print every difference, exit 1 if there is any."""
    _logging(log_level, log_format)
    _require_contract(contract)
    engine = make_engine(database_url, schema=database_schema)
    try:
        report = run_reconcile(
            http_web3(rpc_url),
            engine,
            contract,
            at_block=at_block,
            check_events=events,
            from_block=from_block,
        )
    finally:
        engine.dispose()
    for difference in report:
        typer.echo(str(difference))
    typer.echo(report.summary())
    if not report.clean:
        raise typer.Exit(code=1)


def _settings(**overrides: object) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**values)  # type: ignore[arg-type]


def _bootstrap(settings: Settings, chain: Chain, operator_key: str | None) -> tuple[Settings, str]:
    """Migrate, deploy the ledger if there is no contract address, register the operator; returns
    the completed settings and the operator's API key."""
    _ensure_sqlite_dir(settings.database_url)
    upgrade(settings.database_url, settings.database_schema)
    keyring = Keyring(settings.master_secret.get_secret_value(), settings.key_kdf_iterations)
    if settings.contract_address is None:
        deployment = deploy(chain, keyring, settings.funding_wei)
        settings = settings.model_copy(
            update={"contract_address": deployment.contract_address, "from_block": deployment.block_number}
        )
        operator_address: str = deployment.operator.address
        keystore: dict[str, object] | None = deployment.keystore
    else:
        operator_address = LedgerClient(chain.w3, settings.contract_address).operator()
        keystore = None
        if operator_key:
            account: LocalAccount = Account.from_key(operator_key)
            if account.address != operator_address:
                raise typer.BadParameter(f"--operator-key is not the ledger's operator {operator_address}")
            keystore = keyring.encrypt(account)
    engine = make_engine(settings.database_url, schema=settings.database_schema)
    try:
        with make_session_factory(engine)() as session:
            api_key = register_operator(session, operator_address, keystore)
    finally:
        engine.dispose()
    return settings, api_key


@app.command()
def init(
    rpc_url: Annotated[str | None, typer.Option("--rpc-url", help="JSON-RPC URL (default from env)")] = None,
    database_url: Annotated[str | None, typer.Option("--database-url")] = None,
    operator_key: Annotated[
        str | None,
        typer.Option(
            "--operator-key", envvar="CREDCHAIN_OPERATOR_KEY", help="key of an existing ledger's operator"
        ),
    ] = None,
) -> None:
    """Create the database, deploy the ledger if CREDCHAIN_CONTRACT_ADDRESS is unset, create the
    operator member and print its API key (once)."""
    settings = _settings(rpc_url=rpc_url, database_url=database_url)
    if settings.embedded:
        typer.echo(
            "the embedded chain lives only inside `credchain run`, which initialises it itself", err=True
        )
        raise typer.Exit(code=2)
    funder = settings.funder_key.get_secret_value() if settings.funder_key else None
    settings, api_key = _bootstrap(settings, http_chain(settings.rpc_url, funder), operator_key)
    typer.echo(f"CREDCHAIN_CONTRACT_ADDRESS={settings.contract_address}")
    typer.echo(f"CREDCHAIN_FROM_BLOCK={settings.from_block}")
    typer.echo(f"operator API key (shown once): {api_key}")


keys_app = typer.Typer(help="API keys of gateway members.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _reissue(member_id: str, database_url: str | None) -> str:
    settings = _settings(database_url=database_url)
    engine = make_engine(settings.database_url, schema=settings.database_schema)
    try:
        with make_session_factory(engine)() as session:
            return reissue_api_key(session, member_id)
    except UnknownMember as exc:
        typer.echo(f"no member {member_id!r} in {settings.database_url}", err=True)
        raise typer.Exit(code=1) from exc
    finally:
        engine.dispose()


@keys_app.command("issue")
def keys_issue(
    member_id: Annotated[str, typer.Argument(help="the member's id, e.g. m_3010afee3d")],
    database_url: Annotated[str | None, typer.Option("--database-url")] = None,
) -> None:
    """Issue a new API key for a member (the old one stops working) and print it once."""
    typer.echo(f"API key of {member_id} (shown once): {_reissue(member_id, database_url)}")


@app.command("operator-key")
def operator_key_command(
    database_url: Annotated[str | None, typer.Option("--database-url")] = None,
) -> None:
    """Issue a new API key for the operator (the old one stops working) and print it once."""
    typer.echo(f"operator API key (shown once): {_reissue(OPERATOR_ID, database_url)}")


def embedded_gateway(
    settings: Settings, *, seed: bool, credentials_path: Path = DEFAULT_CREDENTIALS
) -> tuple[AppContext, str, dict[str, Credential] | None]:
    """A fresh in-process chain with the ledger deployed, the database reset (its old contents
    described another chain), the operator registered and, with `seed`, the demo consortium
    onboarded through the gateway's own code and its credentials written to `credentials_path`.
    Returns the context, the operator's API key and the demo credentials."""
    chain = in_process_chain()
    _ensure_sqlite_dir(settings.database_url)
    downgrade(settings.database_url, settings.database_schema)
    settings = settings.model_copy(update={"contract_address": None})
    settings, api_key = _bootstrap(settings, chain, None)
    context = build_context(settings, chain=chain)
    credentials = None
    if seed:
        try:
            credentials = seed_demo(context, api_key)
            write_credentials(credentials_path, credentials)
        except BaseException:
            context.close()
            raise
    return context, api_key, credentials


@app.command()
def run(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    rpc_url: Annotated[str | None, typer.Option("--rpc-url", help="'embedded' or a JSON-RPC URL")] = None,
    database_url: Annotated[str | None, typer.Option("--database-url")] = None,
    seed: Annotated[
        bool | None,
        typer.Option("--seed/--no-seed", help="onboard the demo consortium (default: in embedded mode)"),
    ] = None,
    credentials: Annotated[
        Path, typer.Option("--credentials", help="where the demo members' API keys are written")
    ] = DEFAULT_CREDENTIALS,
    log_level: LogLevel = "INFO",
    log_format: LogFormat = "json",
) -> None:
    """Serve the REST gateway. Embedded (default): a fresh in-process chain, the ledger deployed,
    the database reset, the operator key printed and the demo consortium seeded (its API keys
    written to --credentials)."""
    _logging(log_level, log_format)
    settings = _settings(rpc_url=rpc_url, database_url=database_url)
    if settings.embedded:
        context, api_key, seeded = embedded_gateway(
            settings, seed=True if seed is None else seed, credentials_path=credentials
        )
        typer.echo(f"embedded ledger at {context.settings.contract_address}; operator API key: {api_key}")
        if seeded is not None:
            typer.echo(f"demo consortium seeded: {', '.join(c.name for c in seeded.values())}")
            typer.echo(f"demo API keys and member ids: {credentials}")
    else:
        if seed:
            raise typer.BadParameter(
                "the demo consortium is seeded on the embedded chain only", param_hint="--seed"
            )
        context = build_context(settings)
    typer.echo(f"API base URL: http://{host}:{port} (OpenAPI at http://{host}:{port}/docs)")
    try:
        uvicorn.run(
            create_app(context),
            host=host,
            port=port,
            log_level=log_level.lower(),
            log_config=None,
            access_log=False,
        )
    finally:
        context.close()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
