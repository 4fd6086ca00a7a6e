"""Alembic migrations: `upgrade head` on an empty database creates exactly the models' schema."""

from __future__ import annotations

import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from service.db.migrate import REPO_ROOT, downgrade, upgrade
from service.db.models import Base
from tests.databases import TestDatabase


def _differences(db: TestDatabase) -> list[object]:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def test_upgrade_head_creates_the_models_schema(empty_db: TestDatabase) -> None:
    upgrade(empty_db.url, empty_db.schema)
    tables = set(inspect(empty_db.engine).get_table_names())
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
    assert _differences(empty_db) == []


def test_upgrade_is_idempotent_and_downgrade_drops_everything(empty_db: TestDatabase) -> None:
    upgrade(empty_db.url, empty_db.schema)
    upgrade(empty_db.url, empty_db.schema)
    assert _differences(empty_db) == []
    downgrade(empty_db.url, empty_db.schema)
    assert set(inspect(empty_db.engine).get_table_names()) <= {"alembic_version"}
    upgrade(empty_db.url, empty_db.schema)
    assert _differences(empty_db) == []


@pytest.mark.parametrize("via", ["x-args", "environment"])
def test_alembic_command_line(empty_db: TestDatabase, via: str) -> None:
    """`alembic upgrade head` from the repository root, the URL (and schema) from -x or the env."""
    command = [sys.executable, "-m", "alembic"]
    env = {"PATH": "/usr/bin:/bin"}
    if via == "x-args":
        command += ["-x", f"url={empty_db.url}"]
        if empty_db.schema:
            command += ["-x", f"schema={empty_db.schema}"]
    else:
        env["CREDCHAIN_DATABASE_URL"] = empty_db.url
        if empty_db.schema:
            env["CREDCHAIN_DATABASE_SCHEMA"] = empty_db.schema
    done = subprocess.run(
        [*command, "upgrade", "head"], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert _differences(empty_db) == []
