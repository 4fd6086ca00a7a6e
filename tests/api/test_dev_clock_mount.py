"""/v1/dev/clock exists only on the embedded chain: on a node it is not mounted (404 `not-found`
for everybody, the operator too), instead of a route that answers 404 at run time."""

from __future__ import annotations

import dataclasses

from fastapi.testclient import TestClient

from service.api.app import create_app
from service.ledger.chain import Chain
from tests.api.conftest import Gateway

DAY = 86_400


def _paths(client: TestClient) -> set[str]:
    paths: dict[str, object] = client.get("/openapi.json").json()["paths"]
    return set(paths)


def test_the_dev_clock_is_mounted_on_the_embedded_chain(gw: Gateway) -> None:
    assert "/v1/dev/clock" in _paths(gw.client)
    before = gw.chain.now()
    answer = gw.post("operator", "/v1/dev/clock", {"seconds": DAY})
    assert answer.status_code == 200, answer.text
    assert answer.json()["block_time"] >= before + DAY


def test_the_dev_clock_is_not_mounted_on_a_node(gw: Gateway) -> None:
    node = Chain(w3=gw.chain.w3, kind="http", funder=None)  # the same chain, seen as a node
    context = dataclasses.replace(gw.context, chain=node)
    with TestClient(create_app(context, manage_indexer=False)) as client:
        assert "/v1/dev/clock" not in _paths(client)
        before = gw.chain.now()
        answer = client.post(
            "/v1/dev/clock", json={"seconds": DAY}, headers={"Authorization": f"Bearer {gw.keys['operator']}"}
        )
        assert answer.status_code == 404
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["type"].endswith("/not-found")
    assert gw.chain.now() < before + DAY
