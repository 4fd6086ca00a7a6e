"""Named locks held across the threads of one process and, on PostgreSQL, across every process
sharing the database (session advisory locks)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, OperationalError

log = logging.getLogger("credchain.api")


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
        self._kept: dict[str, Connection] = {}
        """Locks taken by `try_keep`, each on its connection."""
        self._kept_guard = threading.Lock()

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
            key = self._key(name)
            conn, held = self._connect_and_acquire(name, key, deadline)
            try:
                if not held:
                    yield False
                    return
                try:
                    yield True
                finally:
                    self._release(conn, name, key)
            finally:
                if name not in self._dedicated:
                    conn.close()
        finally:
            local.release()

    def _connect_and_acquire(self, name: str, key: int, deadline: float | None) -> tuple[Connection, bool]:
        """A connection for `name` and whether the lock was had on it. Connections are not pinged
        before use: one the database dropped (a terminated backend, a restart) fails the first
        statement with the connection invalidated, and the lock is asked for once more on a fresh
        connection (nothing was held on the dead one: its session, and any lock of it, are gone),
        so a dropped connection never poisons a lock, the dedicated ones included."""
        for attempt in (1, 2):
            conn = self._checkout(name)
            try:
                return conn, self._acquire(conn, key, deadline)
            except DBAPIError as exc:
                self._discard(name, conn)
                if attempt == 2 or not exc.connection_invalidated:
                    raise
        raise AssertionError("unreachable")

    def _checkout(self, name: str) -> Connection:
        assert self._engine is not None
        if name not in self._dedicated:
            return self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        kept = self._connections.get(name)
        if kept is None or kept.closed or kept.invalidated:
            kept = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            self._connections[name] = kept
        return kept

    def _discard(self, name: str, conn: Connection) -> None:
        if self._connections.get(name) is conn:
            del self._connections[name]
        with contextlib.suppress(Exception):
            conn.close()

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

    def try_keep(self, name: str) -> bool:
        """Take the lock `name` without waiting if it is free, and keep it across calls until
        `let_go(name)`, `close` or the loss of its connection (one of its own, named
        `credchain-<name>:<pid>` in pg_stat_activity while it holds the lock); whether this process
        holds it now. While it is held each call pings its connection: a terminated backend (its
        lock freed, maybe taken by another process) raises, the connection dropped, and the next
        call contends again. Without a database (one process): always True."""
        if self._engine is None:
            return True
        with self._kept_guard:
            kept = self._kept.get(name)
            if kept is not None:
                try:
                    kept.execute(text("SELECT 1"))
                except DBAPIError:
                    self._drop_kept(name)
                    raise
                return True
            conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                held = bool(
                    conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key(name)}).scalar()
                )
                if held:
                    conn.execute(
                        text("SELECT set_config('application_name', :app, false)"),
                        {"app": f"credchain-{name}:{os.getpid()}"},
                    )
                    self._kept[name] = conn
                    return True
            except DBAPIError:
                conn.invalidate()
                conn.close()
                raise
            conn.close()
            return False

    def let_go(self, name: str) -> None:
        """Release a lock taken by `try_keep` (nothing if it is not held)."""
        with self._kept_guard:
            conn = self._kept.pop(name, None)
            if conn is None:
                return
            try:
                conn.execute(
                    text("SELECT pg_advisory_unlock(:key), set_config('application_name', '', false)"),
                    {"key": self._key(name)},
                )
            except Exception:
                log.warning("could not release the lock %s; dropping its connection", name, exc_info=True)
                conn.invalidate()
            conn.close()

    def _drop_kept(self, name: str) -> None:
        conn = self._kept.pop(name)
        log.warning("lost the connection holding the lock %s; dropping it", name)
        conn.invalidate()
        conn.close()

    def close(self) -> None:
        for name in list(self._kept):
            self.let_go(name)
        for conn in self._connections.values():
            conn.close()
        self._connections.clear()


LOCK_NOT_AVAILABLE = "55P03"
