"""The follower role on PostgreSQL: of two gateway processes (two contexts here, each with its own
engines and locks) one follows the chain head and says so in /metrics and /readyz; when its lock's
connection is lost (backend terminated), the role is contended again and taken within a few
seconds."""

from __future__ import annotations

import os
import time

import pytest
from sqlalchemy import create_engine, text

from service.api.context import build_context
from service.db.locks import ProcessLocks
from tests.api.test_write_path import Api, Ledger, ledger  # noqa: F401  (the fixture)
from tests.databases import PG_URL

pytestmark = pytest.mark.integration

APPLICATION_NAME = f"credchain-follower:{os.getpid()}"


def _lock_backends() -> list[int]:
    """PostgreSQL backends holding the follower lock for a context of this process."""
    engine = create_engine(PG_URL)
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
                    {"name": APPLICATION_NAME},
                ).scalars()
            )
    finally:
        engine.dispose()


def _terminate(backend: int) -> None:
    engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend}).scalar()
    finally:
        engine.dispose()


def _roles(apis: list[Api]) -> list[str]:
    return [api.context.index_role() for api in apis]


def _wait_for_one_follower(apis: list[Api], seconds: float) -> Api:
    deadline = time.monotonic() + seconds
    while sorted(_roles(apis)) != ["follower", "standby"]:
        assert time.monotonic() < deadline, _roles(apis)
        time.sleep(0.02)
    return next(api for api in apis if api.context.index_role() == "follower")


def test_one_process_follows_and_the_role_is_taken_again_after_its_connection_is_lost(
    ledger: Ledger,  # noqa: F811
) -> None:
    settings = ledger.settings.model_copy(update={"follower_contend_seconds": 0.2})
    first = Api(build_context(settings), {"operator": ledger.operator_key}, follow=True)
    second = Api(build_context(settings), first.keys, follow=True)
    apis = [first, second]
    try:
        holder = _wait_for_one_follower(apis, 5)
        for api in apis:
            active = "1.0" if api is holder else "0.0"
            assert f"credchain_follower_active {active}" in api.client.get("/metrics").text
            role = api.client.get("/readyz").json()["checks"]["index_role"]
            assert role == ("follower" if api is holder else "standby")
        (backend,) = _lock_backends()

        _terminate(backend)
        lost = time.monotonic()
        deadline = lost + 3
        while (backends := _lock_backends()) in ([], [backend]):  # gone, then re-taken anew
            assert time.monotonic() < deadline, backends
            time.sleep(0.02)
        assert len(backends) == 1 and backends != [backend]
        _wait_for_one_follower(apis, 3)
    finally:
        first.close()
        second.close()


def test_without_a_shared_database_the_only_process_always_holds_the_role() -> None:
    locks = ProcessLocks(None, "sqlite")
    assert locks.try_keep("follower") and locks.try_keep("follower")
