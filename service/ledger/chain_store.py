"""The in-process chain's database in a SQLite file, so the embedded demo's chain outlives its
process: py-evm keeps a chain (blocks, receipts, state trie) as key/value pairs, in memory by
default; here they live in a `chain` table, each of py-evm's atomic batches one SQLite transaction.
A `deployment` table beside it records what the embedded gateway deployed on that chain."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from eth.abc import AtomicWriteBatchAPI
from eth.db.atomic import AtomicDB
from eth.db.backends.base import BaseDB


class SqliteKeyValue(BaseDB):
    """py-evm's key/value database over one SQLite connection (autocommit outside a batch). The
    in-process chain's lock serialises every use, so one connection serves every thread."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def __getitem__(self, key: bytes) -> bytes:
        row = self.connection.execute("SELECT v FROM chain WHERE k = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return bytes(row[0])

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.connection.execute("INSERT OR REPLACE INTO chain (k, v) VALUES (?, ?)", (key, value))

    def __delitem__(self, key: bytes) -> None:
        if self.connection.execute("DELETE FROM chain WHERE k = ?", (key,)).rowcount == 0:
            raise KeyError(key)

    def _exists(self, key: bytes) -> bool:
        return self.connection.execute("SELECT 1 FROM chain WHERE k = ?", (key,)).fetchone() is not None


class SqliteAtomicDB(AtomicDB):
    """An AtomicDB whose batches (a block imported, a transaction applied) commit as one SQLite
    transaction: a process killed mid-block leaves the chain at the block before."""

    def __init__(self, store: SqliteKeyValue) -> None:
        super().__init__(store)
        self.store = store

    @contextmanager
    def atomic_batch(self) -> Iterator[AtomicWriteBatchAPI]:
        connection = self.store.connection
        if connection.in_transaction:  # nested: the outer batch commits
            with super().atomic_batch() as batch:
                yield batch
            return
        connection.execute("BEGIN")
        try:
            with super().atomic_batch() as batch:
                yield batch
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")


class ChainStore:
    """A chain file: the chain's key/value pairs and the embedded deployment's record."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA synchronous=NORMAL")
        self.connection.execute("CREATE TABLE IF NOT EXISTS chain (k BLOB PRIMARY KEY, v BLOB NOT NULL)")
        self.connection.execute("CREATE TABLE IF NOT EXISTS deployment (name TEXT PRIMARY KEY, value TEXT)")
        self.db = SqliteAtomicDB(SqliteKeyValue(self.connection))

    def empty(self) -> bool:
        return self.connection.execute("SELECT 1 FROM chain LIMIT 1").fetchone() is None

    def load(self, pairs: dict[bytes, bytes]) -> None:
        """Write `pairs` (a genesis state) in one transaction."""
        with self.connection:
            self.connection.execute("BEGIN")
            self.connection.executemany("INSERT OR REPLACE INTO chain (k, v) VALUES (?, ?)", pairs.items())

    def get(self, name: str) -> str | None:
        row = self.connection.execute("SELECT value FROM deployment WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def put(self, values: dict[str, str]) -> None:
        with self.connection:
            self.connection.execute("BEGIN")
            self.connection.executemany(
                "INSERT OR REPLACE INTO deployment (name, value) VALUES (?, ?)", values.items()
            )

    def close(self) -> None:
        self.connection.close()


def remove_chain_file(path: Path) -> None:
    """Delete a chain file and its SQLite journal files (start over)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
