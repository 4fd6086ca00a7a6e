"""Database fixtures: every test gets an empty database on SQLite and on PostgreSQL.

PostgreSQL runs at 127.0.0.1:5432 (database `test`, trust auth); each test gets its own schema,
dropped afterwards, so concurrent runs never collide. Override with CREDCHAIN_TEST_PG_URL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, Integer, create_engine, text

from service.db.session import make_engine

PG_URL = os.environ.get("CREDCHAIN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@dataclass(frozen=True)
class TestDatabase:
    """An empty database: its URL, the schema to pin (PostgreSQL) and a ready engine."""

    __test__ = False

    kind: str
    url: str
    schema: str | None
    engine: Engine


def _sqlite(tmp_path: Path) -> Iterator[TestDatabase]:
    url = f"sqlite:///{tmp_path / 'credchain.sqlite'}"
    engine = make_engine(url)
    yield TestDatabase("sqlite", url, None, engine)
    engine.dispose()


def _postgres() -> Iterator[TestDatabase]:
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(PG_URL, schema=schema)
    try:
        yield TestDatabase("postgresql", PG_URL, schema, engine)
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestDatabase]:
    """An empty database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield from _sqlite(tmp_path)
    else:
        yield from _postgres()


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema of its own for one test (dropped after); skips without PostgreSQL."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # pragma: no cover - environment without PostgreSQL
        admin.dispose()
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    try:
        yield schema
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def copy_database(source: Engine, target: TestDatabase) -> None:
    """Replace every row of the gateway's tables in `target` (migrated to the same revision) by
    those of `source`, then move PostgreSQL's id sequences past the copied ids: a gateway built once on
    SQLite, then run on PostgreSQL."""
    import service.db.alert_models
    import service.db.event_models
    import service.db.gateway_models
    import service.db.models
    import service.db.reorg_models
    import service.db.webhook_models  # noqa: F401  (every table on the metadata)
    from service.db.base import Base

    tables = Base.metadata.sorted_tables
    with source.connect() as src, target.engine.begin() as dst:
        for table in reversed(tables):  # the rows the migrations seeded, replaced by the source's
            dst.execute(table.delete())
        for table in tables:
            rows = [dict(row) for row in src.execute(table.select()).mappings()]
            if rows:
                dst.execute(table.insert(), rows)
        if target.kind != "postgresql":
            return
        for table in tables:
            for column in table.primary_key.columns:
                if isinstance(column.type, Integer) and column.autoincrement is not False:
                    qualified = f'"{target.schema}".{table.name}'
                    dst.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence(:table, :column), "
                            f"COALESCE(MAX({column.name}), 1), MAX({column.name}) IS NOT NULL) "
                            f"FROM {qualified}"
                        ),
                        {"table": qualified, "column": column.name},
                    )
