"""Helpers of the indexer tests: building indexers, reading SQL back, counting the chain's logs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, delete, func, select
from web3 import Web3

from service.db.evidence_models import EvidenceAttestation, EvidenceRecord, Receivable
from service.db.models import (
    Block,
    Checkpoint,
    CreditGrant,
    DiscountOffer,
    Event,
    LedgerConfig,
    Member,
    MinPartAmount,
    Note,
    ObligorCredit,
    Payment,
    PaymentClaim,
    SettlementToken,
)
from service.indexer import Indexer, IndexerConfig
from service.indexer.reconcile import ReconcileReport, reconcile
from service.indexer.source import BlockHeader, LogSource, RpcLog
from tests.databases import TestDatabase


def make_indexer(w3: Web3, db: TestDatabase, contract: str, **config: Any) -> Indexer:
    source = config.pop("source", None)
    config.setdefault("poll_interval", 0.05)
    return Indexer(w3, db.engine, IndexerConfig(contract=contract, **config), source=source)


def notes(db: TestDatabase) -> dict[int, Note]:
    with db.engine.connect() as conn:
        return {row.id: row for row in conn.execute(select(Note)).all()}  # type: ignore[misc]


def members(db: TestDatabase) -> dict[str, Any]:
    with db.engine.connect() as conn:
        return {row.address: row for row in conn.execute(select(Member)).all()}


def credit(db: TestDatabase) -> dict[str, Any]:
    with db.engine.connect() as conn:
        return {row.obligor: row for row in conn.execute(select(ObligorCredit)).all()}


def event_count(db: TestDatabase) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Event)).scalar_one())


def event_keys(db: TestDatabase) -> list[tuple[str, int]]:
    with db.engine.connect() as conn:
        return [(tx, int(i)) for tx, i in conn.execute(select(Event.tx_hash, Event.log_index)).tuples()]


def chain_log_count(w3: Web3, contract: str) -> int:
    return len(
        w3.eth.get_logs({"address": Web3.to_checksum_address(contract), "fromBlock": 0, "toBlock": "latest"})
    )


def assert_reconciled(w3: Web3, db: TestDatabase, contract: str) -> ReconcileReport:
    report = reconcile(w3, db.engine, contract)
    assert report.differences == [], "\n".join(str(d) for d in report.differences)
    return report


class WrappedSource:
    """A LogSource that delegates to another; tests override pieces of it."""

    def __init__(self, inner: LogSource) -> None:
        self.inner = inner

    def block_number(self) -> int:
        return self.inner.block_number()

    def get_logs(self, address: str, from_block: int, to_block: int) -> list[RpcLog]:
        return self.inner.get_logs(address, from_block, to_block)

    def get_headers(self, numbers: Sequence[int]) -> dict[int, BlockHeader | None]:
        return self.inner.get_headers(numbers)


INDEX_TABLES: tuple[type[Any], ...] = (
    Note,
    Event,
    Member,
    CreditGrant,
    ObligorCredit,
    LedgerConfig,
    SettlementToken,
    DiscountOffer,
    Payment,
    PaymentClaim,
    MinPartAmount,
    EvidenceRecord,
    EvidenceAttestation,
    Receivable,
)
"""The tables the indexer derives from events (blocks and checkpoint aside)."""

NOT_COMPARED = {
    "events": {"id"},  # surrogate keys: a rebuild numbers rows anew
    "payments": {"id"},
    "obligor_credit": {"updated_block"},  # a rollback keeps min(updated, fork), not the last event
}


def _plain(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value


def dump(db: TestDatabase) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every derived table, sorted, without the columns a rebuild may number anew:
    two indexes of the same chain dump equal."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with db.engine.connect() as conn:
        for model in INDEX_TABLES:
            table: Table = model.__table__
            skipped = NOT_COMPARED.get(table.name, set())
            columns = [c for c in table.columns if c.name not in skipped]
            rows = conn.execute(select(*columns)).all()
            plain = [tuple(_plain(v) for v in row) for row in rows]
            tables[table.name] = sorted(plain, key=lambda row: tuple((v is not None, v) for v in row))
    return tables


def wipe_index(db: TestDatabase) -> None:
    """Delete everything the indexer wrote, so it starts again from scratch."""
    with db.engine.begin() as conn:
        for model in (*INDEX_TABLES, Block, Checkpoint):
            conn.execute(delete(model.__table__))
