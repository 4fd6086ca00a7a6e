"""The application context, the gateway's composition root: everything the gateway shares between
requests, built once by `build_context` and passed to `create_app` (no module-level mutable state).

It only composes: advisory locks are `service.db.locks`, shared nonces `service.ledger.nonces`,
receipt prompting `service.ledger.jsonrpc`, the index follower and wait-for-index coordination
`service.indexer.follower`, the caches `service.api.cache`. The in-process chain serialises its own
requests (`service.ledger.chain`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from service.api.cache.bounded import BoundedCache
from service.api.cache.callers import CallerCache
from service.api.cache.members import MemberDirectory
from service.api.cache.provenance import ProvenanceCache
from service.api.edge import RateLimitConfig, RateLimiter
from service.api.metrics import Metrics
from service.api.params import is_currency_code
from service.api.write_capacity import WriteCapacity
from service.db.locks import ProcessLocks
from service.db.session import make_engine, make_session_factory
from service.indexer.follower import INDEXER_LOCK, IndexCoordinator, IndexFollower
from service.indexer.indexer import Indexer, IndexerConfig, Outcome
from service.ledger.chain import Chain, http_chain, in_process_chain
from service.ledger.client import LedgerClient, SettlementTokenClient
from service.ledger.forwarder import ForwarderClient
from service.ledger.jsonrpc import prompt_receipts
from service.ledger.keyring import Keyring
from service.ledger.nonces import SharedNonces
from service.ledger.waiting import waiting
from service.settings import Settings, require_master_secret

if TYPE_CHECKING:
    from service.api.financing.settlement_jobs import SettlementJobRunner

T = TypeVar("T")
MAX_CACHED_TOKENS = 256
"""Settlement token clients kept per process (ISO 4217 has fewer than 200 active currencies)."""


READ_POOL_SIZE = 12
"""Connections of a gateway process for reads, the indexer and the locks (one kept for the indexer's):
more requests than this queue for one (the default pool's overflow would open and close a
PostgreSQL connection, a process fork, per request)."""


class Startable(Protocol):
    def start(self) -> None: ...

    def stop(self, timeout: float = 10.0) -> None: ...


@dataclass
class AppContext:
    """Settings, database, chain, ledger client, indexer and keyring of one gateway.

    `sync_indexing`: after each write the request itself runs the indexer up to the transaction's
    block, one thread at a time (embedded mode and tests: deterministic). Otherwise too
    the request indexes its own block, under the `indexer` lock of `locks` (shared by every gateway
    process on PostgreSQL), while an `IndexFollower` (started by `start`, in one process) applies
    everybody else's blocks. `metrics` is this gateway's own Prometheus registry.
    """

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    chain: Chain
    ledger: LedgerClient
    indexer: Indexer
    keyring: Keyring
    sync_indexing: bool
    read_engine: Engine | None = None
    """The engine of `read` (default: `engine`): without a ping on every checkout."""
    locks: ProcessLocks = field(default_factory=lambda: ProcessLocks(None, ""))
    follower: IndexFollower | None = None
    sweeper: Startable | None = None
    """Deletes expired idempotency records (service.api.idempotency.IdempotencySweeper)."""
    metrics: Metrics = field(default_factory=Metrics)
    callers: CallerCache = field(default_factory=CallerCache)
    members: MemberDirectory = field(default_factory=MemberDirectory)
    provenance: ProvenanceCache = field(default_factory=ProvenanceCache)
    index: IndexCoordinator = field(init=False)
    """Applies index batches for this process's requests and its follower (`wait_indexed`)."""
    _relayer_lock: threading.Lock = field(default_factory=threading.Lock)
    _chain_time: tuple[int, float] | None = None
    _tokens: BoundedCache[str, SettlementTokenClient] = field(
        default_factory=lambda: BoundedCache(MAX_CACHED_TOKENS)
    )
    forwarders: BoundedCache[str, ForwarderClient] = field(default_factory=lambda: BoundedCache(16))
    """The forwarder each ledger (by address) trusts, asked of the ledger once (service.api.relay)."""
    settlement_jobs: SettlementJobRunner | None = None
    """This process's runner of settlement jobs (service.api.financing.settlement_jobs), while the
    app runs."""
    rate_limiter: RateLimiter = field(init=False)
    writes: WriteCapacity = field(init=False)
    """The threads writes run on, apart from the request threads (`service.api.write_capacity`)."""
    """Per-key and per-address request limits (`service.api.edge`), from `settings`."""
    _relayer: LocalAccount | None = None

    def relayer(self) -> LocalAccount | None:
        """The account that sends relayed requests and pays their gas (`CREDCHAIN_RELAYER_KEY`), never
        the operator's. On the embedded chain without one configured, a new key is created and
        funded on first use; elsewhere None (no relaying) until the setting is given."""
        with self._relayer_lock:
            if self._relayer is None:
                key = self.settings.relayer_key
                if key is not None:
                    self._relayer = Account.from_key(key.get_secret_value())
                elif self.chain.kind == "in-process":
                    account: LocalAccount = Account.create()
                    self.fund(account.address)
                    self._relayer = account
            return self._relayer

    def __post_init__(self) -> None:
        # a scrape asks the head as readiness does: given up after its short timeout
        self.metrics.watch_indexer(
            self.indexer, lambda: self.chain.probe(self.settings.readiness_timeout_seconds)
        )
        self.metrics.watch_follower(lambda: self.index_role() == "follower")
        self.rate_limiter = RateLimiter(RateLimitConfig.from_settings(self.settings))
        self.writes = WriteCapacity(
            self.settings.write_concurrency, self.settings.write_queue, self.settings.write_active
        )
        self.index = IndexCoordinator(self.indexer, self.locks, sync=self.sync_indexing)
        self.index.on_reorg(self.ledger.nonces.forget_all)  # a reorganisation may lower the chain's counts

    def head_block(self) -> int:
        """The chain's head block (LedgerUnavailable if the node cannot be asked: a 503)."""
        return self.chain.head_block()

    def session(self) -> Session:
        return self.sessions()

    def read(self, fn: Callable[[Session], T], *, snapshot: bool = False) -> T:
        """`fn(session)` for a read-only request, on one pooled connection.

        Without `snapshot` the connection is in autocommit (no BEGIN/ROLLBACK round trips: for an
        answer read by one statement); with it, on PostgreSQL, one REPEATABLE READ transaction, so
        every statement sees the same committed state of the index. Pooled connections are not
        pinged before use: if the database dropped one, the read fails with the connection
        invalidated, and it is run once more on a fresh connection.
        """
        for attempt in (1, 2):
            try:
                with (self.read_engine or self.engine).connect() as connection:
                    if not snapshot:
                        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
                    elif connection.dialect.name == "postgresql":
                        connection = connection.execution_options(isolation_level="REPEATABLE READ")
                    with Session(bind=connection) as session:
                        return fn(session)
            except DBAPIError as exc:
                if attempt == 2 or not exc.connection_invalidated:
                    raise
        raise AssertionError("unreachable")

    def write_lock(self) -> AbstractContextManager[object]:
        """Holds the in-process chain for a sequence of calls that must not interleave with other
        threads' (tests and tools; every single call is serialised by the chain itself: see
        `service.ledger.chain.Chain.serialised`); nothing on a node."""
        return self.chain.serialised()

    def chain_time(self, max_age: float = 0.0) -> int:
        """The latest block's timestamp; with `max_age`, as read up to `max_age` seconds ago (so
        never later than the chain's own time)."""
        seen = self._chain_time
        if max_age > 0 and seen is not None and time.monotonic() - seen[1] <= max_age:
            return seen[0]
        now = self.chain.now()
        self._chain_time = (now, time.monotonic())
        return now

    def fund(self, address: str) -> None:
        """Give a new custodial account `funding_wei` for gas from the chain's funder (if any)."""
        if self.settings.funding_wei:
            self.send_ether(address, self.settings.funding_wei)

    def send_ether(self, address: str, wei: int) -> object:
        """Send `wei` from the chain's funder to `address` (its receipt; None without a funder),
        holding the funder's nonce lock so that concurrent onboardings and top-ups, in this process
        or another, never reuse its nonce."""
        funder = self.chain.funder
        if funder is None:
            return None
        with self.locks.hold(f"nonce:{Web3.to_checksum_address(funder.address)}"):
            return self.chain.fund(address, wei)

    def settlement_token(self, currency: str) -> SettlementTokenClient | None:
        """The settlement token registered with the ledger for `currency` (None if none yet, or if
        `currency` is not three capital letters); a registration is final, so it is asked of the
        ledger once and kept (registered tokens only, at most `MAX_CACHED_TOKENS`)."""
        if not is_currency_code(currency):  # the ledger reads only 3 bytes: "USDX" would be USD
            return None
        token = self._tokens.get(currency)
        if token is None:
            address = self.ledger.settlement_token(currency)
            if int(address, 16) == 0:
                return None
            token = SettlementTokenClient(self.chain.w3, address, sender=self.ledger.sender)
            self._tokens[currency] = token
        return token

    def wait_indexed(self, block: int) -> bool:
        """Wait (up to `write_wait_seconds`) until the index has applied `block`; whether it has
        (`service.indexer.follower.IndexCoordinator.wait_indexed`)."""
        with waiting():  # a write waiting here lets another work (service.api.write_capacity)
            return self.index.wait_indexed(block, self.settings.write_wait_seconds)

    def index_batch(self) -> Outcome | None:
        """One batch towards the head (the follower's step); None if another thread of this process
        is indexing already."""
        return self.index.index_batch()

    def index_role(self) -> str:
        """This process's part in keeping the index at the chain head: "inline" (each request
        indexes its own block, nothing follows: embedded mode), "follower" (it follows the head),
        "standby" (another process follows; this one takes over if that one stops) or "none" (not
        started)."""
        if self.sync_indexing:
            return "inline"
        if self.follower is None:
            return "none"
        return "follower" if self.follower.active else "standby"

    def start(self) -> None:
        """Start following the chain head in the background (not with `sync_indexing`), and deleting
        expired idempotency records."""
        if not self.sync_indexing:
            if self.follower is None:
                self.follower = IndexFollower(
                    self.index,
                    self.settings.poll_interval,
                    contend_seconds=self.settings.follower_contend_seconds,
                    max_backoff=self.settings.follower_max_backoff_seconds,
                )
            self.follower.start()
        if self.settings.idempotency_sweep_seconds > 0:
            if self.sweeper is None:
                from service.api.idempotency_expiry import IdempotencySweeper  # it imports this module

                self.sweeper = IdempotencySweeper(self)
            self.sweeper.start()

    def stop(self) -> None:
        if self.sweeper is not None:
            self.sweeper.stop()
        if self.follower is not None:
            self.follower.stop()
        self.indexer.stop()

    def close(self) -> None:
        self.stop()
        self.writes.shutdown()
        self.locks.close()
        self.engine.dispose()
        if self.read_engine is not None and self.read_engine is not self.engine:
            self.read_engine.dispose()


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
    require_master_secret(settings)
    if chain is None:
        if settings.embedded:
            chain = in_process_chain()
        else:
            funder = settings.funder_key.get_secret_value() if settings.funder_key else None
            chain = http_chain(settings.rpc_url, funder, timeout=settings.node_timeout_seconds)
            prompt_receipts(chain.w3)
    read_engine = engine
    if engine is None:
        engine = make_engine(settings.database_url, schema=settings.database_schema)
        pool = {"pool_size": READ_POOL_SIZE, "max_overflow": 0} if engine.dialect.name == "postgresql" else {}
        read_engine = make_engine(
            settings.database_url, schema=settings.database_schema, pool_pre_ping=False, **pool
        )
    fast = read_engine if read_engine is not None else engine
    shared = engine.dialect.name == "postgresql" and chain.kind != "in-process"
    locks = ProcessLocks(
        fast if shared else None,
        f"{engine.url.database}:{settings.database_schema or ''}:{settings.contract_address.lower()}",
        dedicated=[INDEXER_LOCK],
    )
    nonces = SharedNonces(chain.w3, locks) if shared else None
    ledger = LedgerClient(chain.w3, settings.contract_address, nonces=nonces)
    indexer = Indexer(  # no ping before each use: its loops retry on a dropped connection
        chain.w3,
        fast,
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
        read_engine=read_engine,
        locks=locks,
        chain=chain,
        ledger=ledger,
        indexer=indexer,
        keyring=Keyring(settings.master_secret.get_secret_value(), settings.key_kdf_iterations),
        provenance=ProvenanceCache(settings.provenance_cache_bytes),
        sync_indexing=chain.kind == "in-process" if sync_indexing is None else sync_indexing,
    )
