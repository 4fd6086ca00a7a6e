"""Fixtures of the indexer tests: a migrated empty database (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from service.db.migrate import upgrade
from tests.databases import TestDatabase


@pytest.fixture
def index_db(empty_db: TestDatabase) -> TestDatabase:
    """An empty database migrated to the head revision, once on SQLite and once on PostgreSQL."""
    upgrade(empty_db.url, empty_db.schema)
    return empty_db
