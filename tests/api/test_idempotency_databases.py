"""Idempotency records on each database (SQLite and PostgreSQL): any request path, however long."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from service.api.app import create_app
from service.api.context import build_context
from service.api.idempotency import MAX_STORED_PATH
from service.db.gateway_models import IdempotencyRecord
from service.ledger.chain import Chain
from service.setup.bootstrap import bootstrap_gateway
from tests.api.conftest import _Template, settings_for
from tests.databases import TestDatabase


@pytest.fixture
def chain(_template: _Template) -> Iterator[Chain]:
    snapshot = _template.chain.snapshot()
    yield _template.chain
    _template.chain.revert(snapshot)


def test_a_path_longer_than_the_stored_one_answers_a_problem_not_a_500(
    empty_db: TestDatabase, chain: Chain
) -> None:
    settings = settings_for(empty_db.url, database_schema=empty_db.schema)
    settings, operator_key = bootstrap_gateway(settings, chain, None)
    context = build_context(settings, chain=chain, engine=empty_db.engine)
    auth = {"Authorization": f"Bearer {operator_key}"}
    long_id = "m_" + "x" * 600
    with TestClient(create_app(context), raise_server_exceptions=False) as client:
        answer = client.post(f"/v1/members/{long_id}/suspend", headers={**auth, "Idempotency-Key": "long-1"})
        assert answer.status_code == 404, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        # same key, a path differing only after the stored prefix: its own request, not a replay
        other = client.post(f"/v1/members/{long_id}y/suspend", headers={**auth, "Idempotency-Key": "long-1"})
        assert other.status_code == 404 and "idempotent-replayed" not in other.headers

        created = client.post(
            "/v1/members",
            json={"name": "N" * 150, "roles": ["supplier"]},
            headers={**auth, "Idempotency-Key": "k" * 255},
        )
        assert created.status_code == 201, created.text
    with context.session() as session:
        paths = session.scalars(select(IdempotencyRecord.path)).all()
    assert paths and all(len(p) <= MAX_STORED_PATH for p in paths)
    context.indexer.stop()
