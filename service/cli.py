"""The `credchain` command.

    credchain index --rpc-url http://127.0.0.1:8545 --database-url postgresql+psycopg://... \\
        --contract 0x... --from-block 0 --confirmations 2 --poll-interval 2
    credchain reconcile --rpc-url ... --database-url ... --contract 0x...

Every option can also come from a CREDCHAIN_* environment variable (CREDCHAIN_RPC_URL,
CREDCHAIN_DATABASE_URL, CREDCHAIN_DATABASE_SCHEMA, CREDCHAIN_CONTRACT_ADDRESS, CREDCHAIN_FROM_BLOCK,
CREDCHAIN_CONFIRMATIONS, CREDCHAIN_POLL_INTERVAL, ...).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
from importlib.metadata import version as package_version
from pathlib import Path
from types import FrameType
from typing import Annotated

import requests
import typer
import uvicorn
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from service.api.app import create_app
from service.api.context import build_context
from service.api.edge import restore_recursion_limit
from service.api.problems import ledger_problem
from service.cli_common import (
    DEFAULT_DATABASE_URL,
    DatabaseUrl,
    OptionalDatabaseUrl,
    OptionalRpcUrl,
    RpcUrl,
    not_embedded,
    require_secure,
    settings_from,
)
from service.cli_deliver import deliver
from service.cli_errors import ErrorMappingGroup, public_database_url, public_node_url, remember_endpoints
from service.cli_funding import announce_chain_funding, announce_funding, funding_app
from service.cli_ledger_settings import settings_app
from service.cli_members import members_app
from service.cli_notes import notes_app
from service.cli_progress import progress_reporter
from service.cli_tokens import tokens_app
from service.console.auth.routes import DemoMember
from service.db.migrate import upgrade
from service.db.session import make_engine, make_session_factory
from service.domain import OPERATOR_ID
from service.indexer.indexer import Indexer, IndexerConfig, http_web3
from service.indexer.reconcile import reconcile as run_reconcile
from service.ledger.chain import http_chain
from service.ledger.errors import LedgerError
from service.ledger.forwarder import deploy_with_forwarder
from service.logging_setup import LOG_FORMATS, configure_logging
from service.secret_files import UnsafeSecretPath, read_private_text, write_env_file
from service.settings import Settings
from service.setup.bootstrap import (
    NotTheOperator,
    UnknownMember,
    bootstrap_gateway,
    ensure_sqlite_dir,
    reissue_api_key,
    relayer_account,
)
from service.setup.embedded import embedded_gateway
from service.setup.seed import DEFAULT_CREDENTIALS
from service.worker import SUPERVISOR_PID_VARIABLE

app = typer.Typer(
    help="credchain: splittable credit notes on a permissioned ledger.",
    no_args_is_help=True,
    cls=ErrorMappingGroup,
)

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
        "--log-format",
        envvar="CREDCHAIN_LOG_FORMAT",
        help="json (one object per line), text, or auto: text on a terminal, json otherwise (on stderr)",
    ),
]


app.add_typer(members_app, name="members")
app.add_typer(notes_app, name="notes")
app.add_typer(settings_app, name="ledger-settings")
app.add_typer(tokens_app, name="tokens")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"credchain {package_version('credchain')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_print_version, help="print the version and exit"),
    ] = False,
) -> None:
    """credchain: splittable credit notes on a permissioned ledger."""


def _require_contract(contract: str) -> None:
    if not contract:
        raise typer.BadParameter(
            "--contract (or CREDCHAIN_CONTRACT_ADDRESS) is required", param_hint="--contract"
        )
    if not Web3.is_address(contract):
        raise typer.BadParameter(f"{contract!r} is not an address", param_hint="--contract")


def _logging(level: str, fmt: str = "auto") -> None:
    if fmt not in LOG_FORMATS:
        raise typer.BadParameter(", ".join(LOG_FORMATS), param_hint="--log-format")
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
    log_format: LogFormat = "auto",
) -> None:
    """Index the ledger's events into SQL: follow the head, or backfill up to --until-block."""
    _logging(log_level, log_format)
    _require_contract(contract)
    remember_endpoints(rpc_url, database_url)
    ensure_sqlite_dir(database_url)
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
            with progress_reporter() as progress:
                last = indexer.run_until(until_block, progress=progress)
            log.info("indexed up to block %s (%s events this run)", last, indexer.stats.events)
        else:
            with progress_reporter() as progress:  # the backfill up to the head, then follow it
                indexer.run_until(progress=progress)
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
    as_json: Annotated[
        bool, typer.Option("--json", help="print the report as one JSON object (counts, differences)")
    ] = False,
    log_level: LogLevel = "INFO",
    log_format: LogFormat = "auto",
) -> None:
    """Compare SQL with the chain's state; print every difference, exit 1 if there is any."""
    _logging(log_level, log_format)
    _require_contract(contract)
    remember_endpoints(rpc_url, database_url)
    engine = make_engine(database_url, schema=database_schema)
    try:
        with progress_reporter() as progress:
            report = run_reconcile(
                http_web3(rpc_url),
                engine,
                contract,
                at_block=at_block,
                check_events=events,
                from_block=from_block,
                progress=progress,
            )
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(report.as_json()))
    else:
        for difference in report:
            typer.echo(str(difference))
        typer.echo(report.summary())
    if not report.clean:
        raise typer.Exit(code=1)


@app.command()
def init(
    rpc_url: OptionalRpcUrl = None,
    database_url: OptionalDatabaseUrl = None,
    env_file: Annotated[
        Path | None,
        typer.Option(
            "--env-file",
            help="set CREDCHAIN_CONTRACT_ADDRESS, CREDCHAIN_FROM_BLOCK and CREDCHAIN_RELAYER_KEY in this "
            "env file (written 0600) instead of printing the relayer's key",
        ),
    ] = None,
) -> None:
    """Create the database, deploy the ledger if CREDCHAIN_CONTRACT_ADDRESS is unset, create the
    operator member and print its API key (once); create and fund the relayer's key (it pays for
    self-custodied members' relayed requests) unless CREDCHAIN_RELAYER_KEY is set."""
    settings = settings_from(rpc_url=rpc_url, database_url=database_url)
    if settings.embedded:
        typer.echo(
            "the embedded chain lives only inside `credchain run`, which initialises it itself", err=True
        )
        raise typer.Exit(code=2)
    require_secure(settings)
    if env_file is not None:
        _secret_path_usable(env_file)
    funder = settings.funder_key.get_secret_value() if settings.funder_key else None
    chain = http_chain(settings.rpc_url, funder)
    try:
        settings, api_key = bootstrap_gateway(settings, chain, _operator_key())
    except NotTheOperator as exc:
        raise typer.BadParameter(str(exc)) from exc
    relayer, created = relayer_account(settings, chain)
    announce_chain_funding(settings, chain, relayer.address)
    values = {
        "CREDCHAIN_CONTRACT_ADDRESS": str(settings.contract_address),
        "CREDCHAIN_FROM_BLOCK": str(settings.from_block),
    }
    for name, value in values.items():
        typer.echo(f"{name}={value}")
    typer.echo(f"operator API key (shown once): {api_key}")
    typer.echo(f"relayer (pays relayed requests' gas; holds nothing else) at {relayer.address}")
    if created:
        relayer_key = "0x" + bytes(relayer.key).hex()
        values["CREDCHAIN_RELAYER_KEY"] = relayer_key
        if env_file is None:
            typer.echo(f"CREDCHAIN_RELAYER_KEY={relayer_key}")
            typer.echo("(the relayer's key, shown once: keep it in the gateway's environment)")
    if env_file is not None:
        write_env_file(env_file, values)
        typer.echo(f"written to {env_file}")


OPERATOR_KEY_VARIABLE = "CREDCHAIN_OPERATOR_KEY"


def _operator_key() -> str | None:
    """The operator's private key, from the environment only: no command takes a private key as an
    option (a command line is visible to other users of the machine, and kept in shell history)."""
    return os.environ.get(OPERATOR_KEY_VARIABLE) or None


def _secret_path_usable(path: Path) -> None:
    """Exit 2 if a secret file may not be written at `path` (a symbolic link, not a regular file)."""
    try:
        read_private_text(path)
    except UnsafeSecretPath as exc:
        typer.echo(f"refusing to write {path}: {exc.strerror}", err=True)
        raise typer.Exit(code=2) from exc


@app.command("deploy")
def deploy_command(
    rpc_url: OptionalRpcUrl = None,
    env_file: Annotated[
        Path | None,
        typer.Option(
            "--env-file",
            help="also set CREDCHAIN_CONTRACT_ADDRESS and CREDCHAIN_FROM_BLOCK in this env file",
        ),
    ] = None,
) -> None:
    """Deploy a new ledger to the node at CREDCHAIN_RPC_URL, operated by the holder of
    CREDCHAIN_OPERATOR_KEY (from the environment only; funded first by CREDCHAIN_FUNDER_KEY if it has no
    ether), and print its address. Then `credchain init` (same variable) registers that operator
    with the gateway."""
    settings = settings_from(rpc_url=rpc_url)
    not_embedded(settings, "`credchain deploy`")
    if env_file is not None:
        _secret_path_usable(env_file)  # before deploying: refuse a symbolic link up front
    operator_key = _operator_key()
    if not operator_key:
        raise typer.BadParameter("the operator's private key is required", param_hint=OPERATOR_KEY_VARIABLE)
    try:
        operator: LocalAccount = Account.from_key(operator_key)
    except (ValueError, TypeError) as exc:
        raise typer.BadParameter("not a private key", param_hint=OPERATOR_KEY_VARIABLE) from exc
    funder = settings.funder_key.get_secret_value() if settings.funder_key else None
    chain = http_chain(settings.rpc_url, funder)
    try:
        first_block = int(chain.w3.eth.block_number) + 1
        if (
            chain.funder is not None
            and settings.funding_wei
            and not chain.w3.eth.get_balance(operator.address)
        ):
            chain.fund(operator.address, settings.funding_wei)
        ledger, forwarder = deploy_with_forwarder(chain.w3, operator, operator.address)
    except LedgerError as exc:
        typer.echo(f"deployment failed: {ledger_problem(exc).title}: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    except (requests.RequestException, OSError) as exc:
        typer.echo(
            f"deployment failed: the node at {public_node_url(settings.rpc_url)} cannot be reached", err=True
        )
        raise typer.Exit(code=1) from exc
    values = {"CREDCHAIN_CONTRACT_ADDRESS": ledger.address, "CREDCHAIN_FROM_BLOCK": str(first_block)}
    typer.echo(f"ledger deployed at {ledger.address}, operated by {operator.address}")
    typer.echo(f"forwarder (relay of self-custodied members' signed requests) at {forwarder.address}")
    typer.echo(f"evidence registry (trade evidence, receivables) at {ledger.evidence_registry()}")
    for name, value in values.items():
        typer.echo(f"{name}={value}")
    if env_file is not None:
        write_env_file(env_file, values)
        typer.echo(f"written to {env_file}")


app.add_typer(funding_app, name="funding")
app.command("deliver")(deliver)
keys_app = typer.Typer(help="API keys of gateway members.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _reissue(member_id: str, database_url: str | None) -> str:
    settings = settings_from(database_url=database_url)
    engine = make_engine(settings.database_url, schema=settings.database_schema)
    try:
        with make_session_factory(engine)() as session:
            return reissue_api_key(session, member_id)
    except UnknownMember as exc:
        typer.echo(f"no member {member_id!r} in {public_database_url(settings.database_url)}", err=True)
        raise typer.Exit(code=1) from exc
    finally:
        engine.dispose()


@keys_app.command("issue")
def keys_issue(
    member_id: Annotated[str, typer.Argument(help="the member's id, e.g. m_3010afee3d")],
    database_url: OptionalDatabaseUrl = None,
) -> None:
    """Issue a new API key for a member (the old one stops working) and print it once."""
    typer.echo(f"API key of {member_id} (shown once): {_reissue(member_id, database_url)}")


@app.command("operator-key")
def operator_key_command(
    database_url: OptionalDatabaseUrl = None,
) -> None:
    """Issue a new API key for the operator (the old one stops working) and print it once."""
    typer.echo(f"operator API key (shown once): {_reissue(OPERATOR_ID, database_url)}")


@app.command()
def run(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", envvar="CREDCHAIN_PORT", min=0, max=65535)] = 8000,
    rpc_url: OptionalRpcUrl = None,
    database_url: OptionalDatabaseUrl = None,
    seed: Annotated[
        bool | None,
        typer.Option("--seed/--no-seed", help="onboard the demo consortium (default: in embedded mode)"),
    ] = None,
    reset: Annotated[
        bool,
        typer.Option(
            "--reset", help="embedded: start the demo over (a fresh chain, the database emptied, new keys)"
        ),
    ] = False,
    credentials: Annotated[
        Path, typer.Option("--credentials", help="where the demo members' API keys are written")
    ] = DEFAULT_CREDENTIALS,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="uvicorn worker processes (CREDCHAIN_WORKERS, default 1; against a node and PostgreSQL)",
        ),
    ] = None,
    log_level: LogLevel = "INFO",
    log_format: LogFormat = "auto",
) -> None:
    """Serve the REST gateway. Embedded (default): an in-process chain, the ledger deployed, the
    operator key printed and the demo consortium seeded (its API keys written to --credentials), in
    one process; a restart keeps the chain (in a file beside the SQLite database), the database and
    the keys, --reset starts over. Against a node: --workers N serves from N processes
    (PostgreSQL only), supervised by this one; one gateway process at a time (the holder of the
    `follower` lock) follows the chain head into the index, another takes over if it dies."""
    restore_recursion_limit()  # eth-account's py_ecc raised it to 100,000 when it was imported
    _logging(log_level, log_format)
    settings = settings_from(rpc_url=rpc_url, database_url=database_url, workers=workers)
    if reset and not settings.embedded:
        raise typer.BadParameter("only the embedded demo is started over", param_hint="--reset")
    if not settings.embedded:
        if seed:
            raise typer.BadParameter(
                "the demo consortium is seeded on the embedded chain only", param_hint="--seed"
            )
        require_secure(settings)
        if settings.contract_address is None:
            typer.echo(
                "no contract address: run `credchain init` (or `credchain deploy`) and set "
                "CREDCHAIN_CONTRACT_ADDRESS",
                err=True,
            )
            raise typer.Exit(code=2)
    if not _port_free(host, port):
        typer.echo(
            f"port {port} on {host} is in use: stop what serves it or choose another port "
            "(--port, CREDCHAIN_PORT, make run PORT=...)",
            err=True,
        )
        raise typer.Exit(code=2)
    if settings.workers > 1:
        if settings.embedded:
            raise typer.BadParameter(
                "the embedded chain lives in one process: run it with one worker", param_hint="--workers"
            )
        if not settings.database_url.startswith("postgresql"):
            raise typer.BadParameter(
                "several workers share the index through PostgreSQL; SQLite serves one process",
                param_hint="--workers",
            )
        _serve_workers(settings, host, port, log_level, log_format)
        return
    if settings.embedded:
        if seed is not False:
            _secret_path_usable(credentials)
        context, api_key, seeded = embedded_gateway(
            settings, seed=True if seed is None else seed, credentials_path=credentials, reset=reset
        )
        shown = api_key or "unchanged (shown on the first start; `credchain operator-key` issues a new one)"
        typer.echo(f"embedded ledger at {context.settings.contract_address}; operator API key: {shown}")
        relayer = context.relayer()
        if relayer is not None:
            typer.echo(f"relayer (pays self-custodied members' relayed requests) at {relayer.address}")
        if seeded is not None:
            typer.echo(f"demo consortium seeded: {', '.join(c.name for c in seeded.values())}")
            typer.echo(f"demo API keys and member ids: {credentials}")
    else:
        seeded = None
        context = build_context(settings)
        announce_funding(context)
    typer.echo(f"API base URL: http://{host}:{port} (OpenAPI at http://{host}:{port}/docs)")
    typer.echo(f"web console: http://{host}:{port}/console/")
    demo = [DemoMember(c.id, c.name, tuple(c.roles)) for c in (seeded or {}).values()]
    try:
        uvicorn.run(
            create_app(context, console_demo=demo),
            host=host,
            port=port,
            timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_seconds)),
            log_level=log_level.lower(),
            log_config=None,
            access_log=False,
            timeout_keep_alive=settings.keep_alive_seconds,  # > Retry-After: see problems.RETRY_AFTER_SECONDS
        )
    finally:
        context.close()


def _port_free(host: str, port: int) -> bool:
    """Whether `host:port` can be bound now (as uvicorn binds it: SO_REUSEADDR), asked before
    anything is reset or written. Port 0 (any free port) always can."""
    if port == 0:
        return True
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror:
        return True  # uvicorn reports the host itself
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


WORKER_HEALTHCHECK_SECONDS = 60
"""How long uvicorn's supervisor waits for a worker to answer its ping before it kills the worker
and starts another. uvicorn's 5 s is shorter than a spawned worker takes to import the service on
a busy 2-core machine, which killed and respawned a worker every few seconds, each respawn burning
seconds of CPU on imports."""


def _serve_workers(settings: Settings, host: str, port: int, log_level: str, log_format: str) -> None:
    """`settings.workers` uvicorn processes, each with a context of its own built from the
    environment (`service.worker:worker_app`) and a candidate for the index follower role; this
    process only supervises them (they end when it dies: `service.parent_watch`)."""
    os.environ.update(
        CREDCHAIN_RPC_URL=settings.rpc_url,
        CREDCHAIN_DATABASE_URL=settings.database_url,
        CREDCHAIN_LOG_LEVEL=log_level,
        CREDCHAIN_LOG_FORMAT=log_format,
        **{SUPERVISOR_PID_VARIABLE: str(os.getpid())},
    )
    typer.echo(f"API base URL: http://{host}:{port} (OpenAPI at http://{host}:{port}/docs)")
    typer.echo(f"web console: http://{host}:{port}/console/")
    typer.echo(f"{settings.workers} worker processes; one of them at a time follows the chain head")
    uvicorn.run(
        "service.worker:worker_app",
        factory=True,
        workers=settings.workers,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_seconds)),
        host=host,
        port=port,
        log_level=log_level.lower(),
        log_config=None,
        access_log=False,
        timeout_keep_alive=settings.keep_alive_seconds,  # > Retry-After: see problems.RETRY_AFTER_SECONDS
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
