"""The application context: everything the gateway shares between requests, built once and passed to
`create_app` (no module-level mutable state)."""

from __future__ import annotations

import threading
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from service.api.keyring import Keyring
from service.api.metrics import Metrics
from service.db.session import make_engine, make_session_factory
from service.indexer.indexer import Indexer, IndexerConfig
from service.ledger.chain import Chain, http_chain, in_process_chain
from service.ledger.client import LedgerClient
from service.settings import Settings


@dataclass
class AppContext:
    """Settings, database, chain, ledger client, indexer and keyring of one gateway.

    `sync_indexing`: after each write the request itself runs the indexer up to the transaction's
    block (embedded mode and tests: deterministic); otherwise a background indexer is expected and
    the request polls the checkpoint. `metrics` is this gateway's own Prometheus registry.
    """

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    chain: Chain
    ledger: LedgerClient
    indexer: Indexer
    keyring: Keyring
    sync_indexing: bool
    metrics: Metrics = field(default_factory=Metrics)
    _write_lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self.metrics.watch_indexer(self.indexer, self.head_block)

    def head_block(self) -> int:
        with self.write_lock():
            return int(self.chain.w3.eth.block_number)

    def session(self) -> Session:
        return self.sessions()

    def write_lock(self) -> AbstractContextManager[object]:
        """Serialises writes on the in-process chain (eth-tester is not thread-safe)."""
        if self.chain.kind == "in-process":
            return self._write_lock
        return nullcontext()

    def wait_indexed(self, block: int) -> bool:
        """Wait (up to `write_wait_seconds`) until the index has applied `block`; whether it has."""
        timeout = self.settings.write_wait_seconds
        if self.sync_indexing:
            with self._write_lock:
                try:
                    self.indexer.run_until(block, timeout=timeout)
                except TimeoutError:
                    return False
            return self.indexer.last_block() >= block
        deadline = time.monotonic() + timeout
        while True:
            if self.indexer.last_block() >= block:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(0.05, self.settings.poll_interval))

    def start(self) -> None:
        if not self.sync_indexing:
            self.indexer.start()

    def close(self) -> None:
        self.indexer.stop()
        self.engine.dispose()


def build_context(
    settings: Settings,
    *,
    chain: Chain | None = None,
    engine: Engine | None = None,
    sync_indexing: bool | None = None,
) -> AppContext:
    """A context for `settings`; `chain` and `engine` may be given (tests, embedded bootstrap)."""
    if settings.contract_address is None:
        raise ValueError("no contract address: run `credchain init` or set CREDCHAIN_CONTRACT_ADDRESS")
    if chain is None:
        if settings.embedded:
            chain = in_process_chain()
        else:
            funder = settings.funder_key.get_secret_value() if settings.funder_key else None
            chain = http_chain(settings.rpc_url, funder)
    if engine is None:
        engine = make_engine(settings.database_url, schema=settings.database_schema)
    ledger = LedgerClient(chain.w3, settings.contract_address)
    indexer = Indexer(
        chain.w3,
        engine,
        IndexerConfig(
            contract=settings.contract_address,
            from_block=settings.from_block,
            confirmations=settings.confirmations,
            poll_interval=settings.poll_interval,
            pipeline=False,
        ),
    )
    return AppContext(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        chain=chain,
        ledger=ledger,
        indexer=indexer,
        keyring=Keyring(settings.master_secret.get_secret_value(), settings.key_kdf_iterations),
        sync_indexing=chain.kind == "in-process" if sync_indexing is None else sync_indexing,
    )
