"""The `credchain` command.

    credchain index --rpc-url http://127.0.0.1:8545 --database-url postgresql+psycopg://... \\
        --contract 0x... --from-block 0 --confirmations 2 --poll-interval 2
    credchain reconcile --rpc-url ... --database-url ... --contract 0x...

Every option can also come from a CREDCHAIN_* environment variable (CREDCHAIN_RPC_URL,
CREDCHAIN_DATABASE_URL, CREDCHAIN_DATABASE_SCHEMA, CREDCHAIN_CONTRACT, CREDCHAIN_FROM_BLOCK,
CREDCHAIN_CONFIRMATIONS, CREDCHAIN_POLL_INTERVAL, ...).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from service.db.migrate import upgrade
from service.db.session import make_engine
from service.indexer.indexer import Indexer, IndexerConfig, http_web3
from service.indexer.reconcile import reconcile as run_reconcile

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
    str, typer.Option("--contract", envvar="CREDCHAIN_CONTRACT", help="address of the CreditNoteLedger")
]
FromBlock = Annotated[
    int,
    typer.Option(
        "--from-block", envvar="CREDCHAIN_FROM_BLOCK", help="first block to index (deployment block)"
    ),
]
LogLevel = Annotated[str, typer.Option("--log-level", envvar="CREDCHAIN_LOG_LEVEL")]


def _ensure_sqlite_dir(url: str) -> None:
    """SQLite creates the file, not its directory (the default lives in var/)."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and ":memory:" not in url:
        Path(url[len(prefix) :]).parent.mkdir(parents=True, exist_ok=True)


def _logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


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
) -> None:
    """Index the ledger's events into SQL: follow the head, or backfill up to --until-block."""
    _logging(log_level)
    if not contract:
        raise typer.BadParameter("--contract (or CREDCHAIN_CONTRACT) is required", param_hint="--contract")
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
) -> None:
    """Compare SQL with the chain's state; print every difference, exit 1 if there is any."""
    _logging(log_level)
    if not contract:
        raise typer.BadParameter("--contract (or CREDCHAIN_CONTRACT) is required", param_hint="--contract")
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
