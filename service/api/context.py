"""The application context: everything the gateway shares between requests, built once and passed to
`create_app` (no module-level mutable state)."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3
from web3.middleware import Web3Middleware
from web3.types import MakeRequestFn, RPCEndpoint, RPCResponse

from service.api.background import BackgroundThread
from service.api.edge import RateLimitConfig, RateLimiter
from service.api.keyring import Keyring
from service.api.metrics import Metrics
from service.api.params import is_currency_code
from service.api.provenance_cache import ProvenanceCache
from service.db.gateway_models import ApiMember
from service.db.session import make_engine, make_session_factory
from service.domain import MemberStatus
from service.indexer.indexer import TRANSIENT_ERRORS, Indexer, IndexerConfig, Outcome, SyncResult
from service.ledger.chain import Chain, http_chain, in_process_chain
from service.ledger.client import ForwarderClient, LedgerClient, SettlementTokenClient
from service.ledger.jsonrpc import RECEIPT_LONGEST_PROMPT_PAUSE, RECEIPT_PROMPT_SECONDS, prompt_pauses
from service.ledger.nonces import NonceManager, pending_nonce_reader
from service.settings import Settings, require_master_secret

if TYPE_CHECKING:
    from service.api.settlement_jobs import SettlementJobRunner

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")
MAX_CACHED_TOKENS = 256
"""Settlement token clients kept per process (ISO 4217 has fewer than 200 active currencies)."""
log = logging.getLogger("credchain.api")


@dataclass(frozen=True, slots=True)
class Caller:
    """The member an API key belonged to when it was last looked up: id, address, its roles as
    stored (comma-separated) and its registry status as indexed (`service.domain.MemberStatus`,
    0 if not in the registry, like the operator)."""

    id: str
    address: str
    roles: str
    status: int = 0

    @property
    def suspended(self) -> bool:
        return self.status == MemberStatus.SUSPENDED

    @property
    def role_names(self) -> list[str]:
        return [r for r in self.roles.split(",") if r]


class BoundedCache(Generic[K, V]):
    """A thread-safe mapping of at most `size` entries, the least recently used dropped first."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def __setitem__(self, key: K, value: V) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def update(self, entries: dict[K, V]) -> None:
        for key, value in entries.items():
            self[key] = value

    def __len__(self) -> int:
        return len(self._entries)


class CallerCache:
    """API key hash -> `Caller`, at most `size` entries (least recently used dropped first).

    An entry is a hint, never a proof: a read that uses one checks, in the same SQL statement, that
    the key still belongs to that member with the same address, roles and registry status
    (`service.api.queries`), and drops the entry otherwise: a suspension indexed by any process
    takes effect on the next request. So a key replaced by `credchain keys issue` in another process
    stops working at once. Only keys that were found are cached, so unknown keys cannot fill it.
    """

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._entries: OrderedDict[str, Caller] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key_hash: str) -> Caller | None:
        with self._lock:
            caller = self._entries.get(key_hash)
            if caller is not None:
                self._entries.move_to_end(key_hash)
            return caller

    def put(self, key_hash: str, caller: Caller) -> None:
        with self._lock:
            self._entries[key_hash] = caller
            self._entries.move_to_end(key_hash)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def drop(self, key_hash: str) -> None:
        with self._lock:
            self._entries.pop(key_hash, None)


class MemberDirectory:
    """Member ids by address, for the `holder_member` / `obligor_member` of notes.

    A gateway member's id and address never change and members are never deleted, so an address
    once found keeps its id: found entries are cached (the `size` most recently used) and only
    addresses not cached are looked up (an address that is nobody's is looked up again next time, since a
    member may be onboarded with it later).
    """

    def __init__(self, size: int = 100_000) -> None:
        self._ids: BoundedCache[str, str] = BoundedCache(size)

    def ids(self, session: Session, addresses: Iterable[str]) -> dict[str, str]:
        wanted = set(addresses)
        found: dict[str, str] = {}
        for address in wanted:
            member_id = self._ids.get(address)
            if member_id is not None:
                found[address] = member_id
        missing = wanted - found.keys()
        if missing:
            rows = session.execute(
                select(ApiMember.address, ApiMember.id).where(ApiMember.address.in_(missing))
            ).all()
            fresh = {str(row[0]): str(row[1]) for row in rows}
            self._ids.update(fresh)
            found.update(fresh)
        return found


class ProcessLocks:
    """Named locks held across the threads of this process and, on PostgreSQL, across every process
    using the same database, schema and contract (gateway workers, several gateways): session
    advisory locks, released by `pg_advisory_unlock` or, if the process dies, with its connection.

    Each name is first taken in-process, so a process waits with at most one connection per name.
    Names in `dedicated` (the indexer's) keep a connection of their own: taking and releasing them
    costs one round trip each; other names (one per signing account) use pooled connections.
    """

    def __init__(self, engine: Engine | None, scope: str, dedicated: Iterable[str] = ()) -> None:
        self._engine = engine
        self._scope = scope
        self._guard = threading.Lock()
        self._local: dict[str, threading.Lock] = {}
        self._dedicated = set(dedicated)
        self._connections: dict[str, Connection] = {}

    @property
    def shared(self) -> bool:
        """Whether the locks also hold across processes (PostgreSQL)."""
        return self._engine is not None

    def _key(self, name: str) -> int:
        digest = hashlib.sha256(f"{self._scope}:{name}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    def _local_lock(self, name: str) -> threading.Lock:
        with self._guard:
            lock = self._local.get(name)
            if lock is None:
                lock = self._local[name] = threading.Lock()
            return lock

    @contextmanager
    def hold(self, name: str, timeout: float | None = None) -> Iterator[bool]:
        """Hold the lock `name` for the block; yields False (and holds nothing) if it could not be
        had within `timeout` seconds (None: wait as long as it takes)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        local = self._local_lock(name)
        if not local.acquire(timeout=-1 if timeout is None else max(0.0, timeout)):
            yield False
            return
        try:
            if self._engine is None:
                yield True
                return
            with self._connection(name) as conn:
                key = self._key(name)
                if not self._acquire(conn, key, deadline):
                    yield False
                    return
                try:
                    yield True
                finally:
                    self._release(conn, name, key)
        finally:
            local.release()

    @contextmanager
    def _connection(self, name: str) -> Iterator[Connection]:
        assert self._engine is not None
        if name not in self._dedicated:
            with self._engine.connect() as conn:
                yield conn.execution_options(isolation_level="AUTOCOMMIT")
            return
        kept = self._connections.get(name)
        if kept is None or kept.closed or kept.invalidated:
            kept = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            self._connections[name] = kept
        yield kept

    @staticmethod
    def _acquire(conn: Connection, key: int, deadline: float | None) -> bool:
        if deadline is None:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            return True
        remaining_ms = int((deadline - time.monotonic()) * 1000)
        if remaining_ms <= 0:
            return bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar())
        try:  # lock_timeout set in the same statement applies to its wait (and is undone if it fails)
            conn.execute(
                text("SELECT set_config('lock_timeout', :ms, false), pg_advisory_lock(:key)"),
                {"ms": str(remaining_ms), "key": key},
            )
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
                return False
            raise
        return True

    def _release(self, conn: Connection, name: str, key: int) -> None:
        try:
            conn.execute(
                text("SELECT pg_advisory_unlock(:key), set_config('lock_timeout', '0', false)"), {"key": key}
            )
        except Exception:
            # the session ends with its connection, and the lock with it
            log.warning("could not release the lock %s; dropping its connection", name, exc_info=True)
            conn.invalidate()
            self._connections.pop(name, None)

    def close(self) -> None:
        for conn in self._connections.values():
            conn.close()
        self._connections.clear()


LOCK_NOT_AVAILABLE = "55P03"


class SharedNonces(NonceManager):
    """Nonces for accounts that several processes sign for (gateway workers, several gateways):
    under the account's `ProcessLocks` lock, the next nonce is the node's pending transaction count,
    read every time (nothing cached that another process could make stale). A failed send leaves no
    gap: nothing was added to the pending count."""

    def __init__(self, w3: Web3, locks: ProcessLocks) -> None:
        self._pending = pending_nonce_reader(w3)
        super().__init__(self._pending)
        self._process_locks = locks

    def lock(self, address: str) -> AbstractContextManager[bool]:
        """The lock of `address`'s nonces (also held while the funder pays for a new account)."""
        return self._process_locks.hold(f"nonce:{Web3.to_checksum_address(address)}")

    @contextmanager
    def reserve(self, address: str) -> Iterator[int]:
        with self.lock(address):
            yield self._pending(address)

    def forget(self, address: str) -> None:
        """Nothing is cached."""


class IndexFollower(BackgroundThread):
    """Keeps the index at the chain head in a background thread (blocks written by anybody), taking
    the `indexer` lock for every batch, so that it never races the requests that index their own
    blocks (`AppContext.wait_indexed`) in this or another process. After a batch it looks again at
    once; when idle it polls the node every `poll_interval` seconds."""

    thread_name = "credchain-index-follower"

    def __init__(self, context: AppContext) -> None:
        super().__init__()
        self._context = context

    def _run(self) -> None:
        context = self._context
        failures = 0
        while not self._stop.is_set():
            try:
                outcome = context.index_batch()
                failures = 0
            except TRANSIENT_ERRORS as exc:
                failures += 1
                log.warning("index follower: %s: %s; retrying", type(exc).__name__, exc)
                self._stop.wait(min(30.0, 0.25 * 2 ** min(failures - 1, 10)))
                continue
            except Exception:  # keep following: a bug in one batch must not stop the index for good
                log.exception("index follower: unexpected error; retrying")
                self._stop.wait(1.0)
                continue
            if outcome is Outcome.IDLE:
                self._stop.wait(context.settings.poll_interval)
            elif outcome is None or outcome is Outcome.RETRY:  # a request is indexing, or try again
                self._stop.wait(min(0.05, context.settings.poll_interval))


class PromptReceipts(Web3Middleware):
    """Makes web3.py's `wait_for_transaction_receipt` prompt: when the node has no receipt yet,
    ask again on the ledger client's schedule (`prompt_pauses`: 1 ms, then 2, 4, ... at most 20 ms
    apart) for up to 90 ms, before answering
    "none yet" (after which web3.py sleeps its fixed 100 ms and asks again). Only receipt look-ups
    that find nothing are affected."""

    BUDGET = RECEIPT_PROMPT_SECONDS
    LONGEST_PAUSE = RECEIPT_LONGEST_PROMPT_PAUSE

    def wrap_make_request(self, make_request: MakeRequestFn) -> MakeRequestFn:
        def middleware(method: RPCEndpoint, params: Any) -> RPCResponse:
            response = make_request(method, params)
            if method != "eth_getTransactionReceipt" or response.get("result") is not None:
                return response
            deadline = time.monotonic() + self.BUDGET
            for pause in prompt_pauses():
                if response.get("result") is not None or "error" in response:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                time.sleep(min(pause, remaining))
                response = make_request(method, params)
            return response

        return middleware


def prompt_receipts(w3: Web3) -> Web3:
    """Add `PromptReceipts` to `w3` (once)."""
    if "prompt_receipts" not in w3.middleware_onion:
        w3.middleware_onion.add(PromptReceipts, name="prompt_receipts")
    return w3


INDEXER_LOCK = "indexer"
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
    block under the in-process write lock (embedded mode and tests: deterministic). Otherwise too
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
    _write_lock: threading.RLock = field(default_factory=threading.RLock)
    _index_changed: threading.Condition = field(default_factory=threading.Condition)
    _indexing: bool = False
    """A thread of this process is applying batches (under the `indexer` lock)."""
    _applied: int = -1
    """The last block this process knows to be in the index."""
    _chain_time: tuple[int, float] | None = None
    _tokens: BoundedCache[str, SettlementTokenClient] = field(
        default_factory=lambda: BoundedCache(MAX_CACHED_TOKENS)
    )
    forwarders: BoundedCache[str, ForwarderClient] = field(default_factory=lambda: BoundedCache(16))
    settlement_jobs: SettlementJobRunner | None = None
    """This process's runner of settlement jobs (service.api.settlement_jobs), while the app runs."""
    """The forwarder each ledger (by address) trusts, asked of the ledger once (service.api.routes.relay)."""
    rate_limiter: RateLimiter = field(init=False)
    """Per-key and per-address request limits (`service.api.edge`), from `settings`."""
    _relayer: LocalAccount | None = None

    def relayer(self) -> LocalAccount | None:
        """The account that sends relayed requests and pays their gas (`CREDCHAIN_RELAYER_KEY`), never
        the operator's. On the embedded chain without one configured, a new key is created and
        funded on first use; elsewhere None (no relaying) until the setting is given."""
        with self._write_lock:
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
        self.metrics.watch_indexer(self.indexer, self.head_block)
        self.rate_limiter = RateLimiter(RateLimitConfig.from_settings(self.settings))

    def head_block(self) -> int:
        with self.write_lock():
            return int(self.chain.w3.eth.block_number)

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
        """Serialises writes on the in-process chain (eth-tester is not thread-safe)."""
        if self.chain.kind == "in-process":
            return self._write_lock
        return nullcontext()

    def chain_time(self, max_age: float = 0.0) -> int:
        """The latest block's timestamp; with `max_age`, as read up to `max_age` seconds ago (so
        never later than the chain's own time)."""
        seen = self._chain_time
        if max_age > 0 and seen is not None and time.monotonic() - seen[1] <= max_age:
            return seen[0]
        with self.write_lock():
            now = self.chain.now()
        self._chain_time = (now, time.monotonic())
        return now

    def fund(self, address: str) -> None:
        """Give a new custodial account `funding_wei` for gas from the chain's funder (if any),
        holding the funder's nonce lock so that concurrent onboardings, in this process or another,
        never reuse its nonce."""
        funder = self.chain.funder
        if funder is None or not self.settings.funding_wei:
            return
        with self.write_lock(), self.locks.hold(f"nonce:{Web3.to_checksum_address(funder.address)}"):
            self.chain.fund(address, self.settings.funding_wei)

    def settlement_token(self, currency: str) -> SettlementTokenClient | None:
        """The settlement token registered with the ledger for `currency` (None if none yet, or if
        `currency` is not three capital letters); a registration is final, so it is asked of the
        ledger once and kept (registered tokens only, at most `MAX_CACHED_TOKENS`)."""
        if not is_currency_code(currency):  # the ledger reads only 3 bytes: "USDX" would be USD
            return None
        token = self._tokens.get(currency)
        if token is None:
            with self.write_lock():
                address = self.ledger.settlement_token(currency)
            if int(address, 16) == 0:
                return None
            token = SettlementTokenClient(self.chain.w3, address, sender=self.ledger.sender)
            self._tokens[currency] = token
        return token

    def wait_indexed(self, block: int) -> bool:
        """Wait (up to `write_wait_seconds`) until the index has applied `block`; whether it has.

        The request indexes its block itself rather than waiting for a poll: one thread of the
        process at a time (and, on PostgreSQL, one process at a time: the `indexer` lock) applies
        batches up to the head, and after each batch wakes the requests whose blocks it applied.
        If the block cannot be applied yet (not confirmed, node or database away), it looks again
        after 2 ms, then 4, 8, ... at most 50 ms apart.
        """
        timeout = self.settings.write_wait_seconds
        if self.sync_indexing:
            with self._write_lock:
                try:
                    self.indexer.run_until(block, timeout=timeout)
                except TimeoutError:
                    return False
            return self.indexer.last_block() >= block
        deadline = time.monotonic() + timeout
        pause = 0.002
        while True:
            try:
                if self._applied >= block or self._index_up_to(block, deadline):
                    return True
            except TRANSIENT_ERRORS as exc:
                log.info("indexing block %s: %s: %s", block, type(exc).__name__, exc)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, 0.05)

    def _claim_indexing(self, block: int | None, deadline: float | None) -> bool:
        """Become the thread of this process that indexes; with `block`, first wait (until
        `deadline`) while another thread indexes and `block` is not applied yet. False if `block`
        got applied meanwhile, or (without `block`) if another thread is indexing."""
        with self._index_changed:
            while self._indexing and (block is None or self._applied < block):
                if block is None:
                    return False
                remaining = deadline - time.monotonic() if deadline is not None else None
                if remaining is not None and remaining <= 0:
                    return False
                self._index_changed.wait(remaining)
            if block is not None and self._applied >= block:
                return False
            self._indexing = True
            return True

    def _release_indexing(self) -> None:
        with self._index_changed:
            self._indexing = False
            self._index_changed.notify_all()

    def _applied_now(self, last: int, *, exact: bool = False) -> None:
        """The index is at `last` (at least, unless `exact`: after a reorganisation); wake waiters."""
        with self._index_changed:
            self._applied = last if exact else max(self._applied, last)
            self._index_changed.notify_all()

    def _batch(self) -> SyncResult:
        """One `sync_once`, and what it tells of the index (the caller holds the `indexer` lock)."""
        result = self.indexer.sync_once()
        if result.outcome is Outcome.APPLIED and result.last_block is not None:
            self._applied_now(result.last_block)
        elif result.outcome is Outcome.REORG:
            self._applied_now(self.indexer.last_block(), exact=True)
        return result

    def _index_up_to(self, block: int, deadline: float) -> bool:
        """Apply batches until `block` is in the index (or nothing more can be applied yet), unless
        another thread of this process is at it, in which case wait for it; whether `block` is in."""
        if not self._claim_indexing(block, deadline):
            return self._applied >= block
        try:
            self._applied_now(self.indexer.last_block())  # another process may have applied it
            if self._applied >= block:
                return True
            with self.locks.hold(INDEXER_LOCK, timeout=deadline - time.monotonic()) as held:
                if not held:
                    return False
                last = self.indexer.last_block()
                self._applied_now(last)
                retries = 0
                while last < block and time.monotonic() < deadline and retries <= 3:
                    result = self._batch()
                    if result.outcome is Outcome.IDLE:
                        break
                    retries = retries + 1 if result.outcome is Outcome.RETRY else 0
                    last = self._applied
                return last >= block
        finally:
            self._release_indexing()

    def index_batch(self) -> Outcome | None:
        """One batch towards the head (the follower's step); None if another thread of this process
        is indexing already."""
        if not self._claim_indexing(None, None):
            return None
        try:
            with self.locks.hold(INDEXER_LOCK):
                return self._batch().outcome
        finally:
            self._release_indexing()

    def start(self) -> None:
        """Start following the chain head in the background (not with `sync_indexing`), and deleting
        expired idempotency records."""
        if not self.sync_indexing:
            if self.follower is None:
                self.follower = IndexFollower(self)
            self.follower.start()
        if self.settings.idempotency_sweep_seconds > 0:
            if self.sweeper is None:
                from service.api.idempotency import IdempotencySweeper  # it imports this module

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
            chain = http_chain(settings.rpc_url, funder)
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
