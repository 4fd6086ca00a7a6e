"""The alert tests' database: migrated, with the ledger's configuration and four members."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, insert

from service.alerts.rules import CONFIG, MEMBERS
from service.db.migrate import upgrade
from service.domain import Role
from tests.alerts.test_rules import BANK, DAY, LEDGER, OBLIGOR, S1, S2
from tests.databases import TestDatabase


@pytest.fixture
def db(empty_db: TestDatabase) -> Iterator[Engine]:
    upgrade(empty_db.url, empty_db.schema)
    with empty_db.engine.begin() as conn:
        conn.execute(insert(CONFIG).values(contract=LEDGER, max_tenor=365 * DAY, grace_period=5 * DAY))
        for address, roles in ((OBLIGOR, Role.CORE_ENTERPRISE), (S1, Role.SUPPLIER), (S2, Role.SUPPLIER)):
            conn.execute(
                insert(MEMBERS).values(
                    address=address, roles=int(roles), status=1, onboarded_block=1, updated_block=1
                )
            )
        conn.execute(
            insert(MEMBERS).values(
                address=BANK, roles=int(Role.FINANCIER), status=1, onboarded_block=1, updated_block=1
            )
        )
    yield empty_db.engine
