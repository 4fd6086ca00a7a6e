"""Alembic migrations: `upgrade head` on an empty database creates exactly the models' schema."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

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


def test_idempotency_records_from_before_the_journal_are_scrubbed_and_expire(empty_db: TestDatabase) -> None:
    """0006: an onboarding answer stored with its API key in plain text loses the key, every old
    record expires a day after it was made, one still in flight keeps its key in use until then."""
    upgrade(empty_db.url, empty_db.schema, "0003_financing")
    created = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    old = text(
        "INSERT INTO idempotency_records (member_id, key, method, path, body_sha256, status_code, "
        "response_body, created_at) VALUES (:m, :k, 'POST', '/v1/members', :b, :s, :r, :c)"
    )
    with empty_db.engine.begin() as conn:
        answer = json.dumps({"id": "m_1", "api_key": "cc_secret", "tx_hash": "0x01"})
        conn.execute(old, {"m": "operator", "k": "done", "b": "0" * 64, "s": 201, "r": answer, "c": created})
        conn.execute(old, {"m": "operator", "k": "flying", "b": "0" * 64, "s": None, "r": None, "c": created})
    upgrade(empty_db.url, empty_db.schema)
    with empty_db.engine.connect() as conn:
        rows = {
            row.key: row
            for row in conn.execute(
                text("SELECT key, response_body, expires_at, lease_owner FROM idempotency_records")
            )
        }
    body = rows["done"].response_body
    body = json.loads(body) if isinstance(body, str) else body
    assert body["api_key"] is None and "credchain keys issue" in body["api_key_note"]
    assert "cc_secret" not in json.dumps(body)
    for row in rows.values():
        expires = (
            row.expires_at if isinstance(row.expires_at, datetime) else datetime.fromisoformat(row.expires_at)
        )
        expires = expires.astimezone(UTC) if expires.tzinfo else expires.replace(tzinfo=UTC)
        assert expires == created + timedelta(days=1)
    assert rows["flying"].lease_owner is not None and rows["done"].lease_owner is None
