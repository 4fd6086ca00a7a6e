"""Suspension in the gateway (issue 12, finding 8): one gate (`service.api.auth.admit`, used by the
current-member dependency and by the note read's own one-statement authentication) refuses a
suspended member with 403 `member-suspended` on every route but the short allow-list
`SUSPENDED_MAY`; what it may still read is only its own notes (held or owed) and its own account.

The world: core issues a 30-day note to s1, which keeps 600 and passes 400 to s2; core issues a
1-day note to s3 (accepted); then the operator suspends s1 and core, and the clock passes the
1-day note's maturity. Routes are enumerated from the app itself, so a new route is covered (and
refused to suspended members) without touching this file."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from service.api.auth import SUSPENDED_MAY
from tests.api.financing import Fin, FinTemplate, fin_fixture, fin_template_fixture, gateway_on, problem

__all__ = ["fin_fixture", "fin_template_fixture"]

SUSPENDED = ("s1", "core")


@dataclass
class World:
    fin: Fin
    root: str  # core -> s1, split: s1 keeps `kept`, s2 holds `passed`
    kept: str
    passed: str
    matured: str  # core -> s3, 1 day, past maturity


@pytest.fixture(scope="module")
def world(fin_template: FinTemplate, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with gateway_on(fin_template, tmp_path_factory.mktemp("suspension")) as fin:
        root = fin.issue_to("s1", 1_000, days=30)
        kept, passed = fin.split("s1", root, [("s1", 600), ("s2", 400)])
        matured = fin.issue_to("s3", 500, days=1)
        for who in SUSPENDED:
            answer = fin.post("operator", f"/v1/members/{fin.ids[who]}/suspend")
            assert answer.status_code == 200, answer.text
        fin.advance(2)
        yield World(fin, root, kept, passed, matured)


def _routes(world: World) -> set[tuple[str, str]]:
    """(method, path template) of every /v1 route the app serves."""
    paths = world.fin.client.app.openapi()["paths"]  # type: ignore[attr-defined]
    return {(m.upper(), p) for p, operations in paths.items() if p.startswith("/v1/") for m in operations}


PARAMS = {"note_id": "{kept}", "root_id": "{root}", "member_id": "{s1}", "offer_id": "1", "currency": "USD"}


def _path(route_path: str, world: World, who: str) -> str:
    path = route_path
    for name, value in PARAMS.items():
        value = value.replace("{kept}", world.kept).replace("{root}", world.root)
        value = value.replace("{s1}", world.fin.ids[who])
        path = path.replace("{" + name + "}", value)
    return path


def _send(world: World, who: str, method: str, path: str, body: Any = None) -> Any:
    client, headers = world.fin.client, world.fin.auth(who)
    if method == "GET":
        return client.get(path, headers=headers)
    return client.request(method, path, json=body if body is not None else {}, headers=headers)


def test_every_route_but_the_allow_list_refuses_a_suspended_member(world: World) -> None:
    routes = _routes(world)
    assert len(routes) >= 40
    checked = 0
    for method, route in sorted(routes - SUSPENDED_MAY):
        for who in SUSPENDED:
            answer = _send(world, who, method, _path(route, world, who))
            body = problem(answer, 403, "member-suspended")
            assert body["member"] == world.fin.ids[who], (method, route, body)
            checked += 1
    assert checked >= 2 * 30


def test_the_allow_list_names_only_existing_routes(world: World) -> None:
    existing = _routes(world)
    assert existing >= SUSPENDED_MAY, sorted(SUSPENDED_MAY - existing)


def test_an_active_member_is_not_refused_by_the_gate(world: World) -> None:
    answer = world.fin.get("s2", "/v1/members")
    assert answer.status_code == 200, answer.text
    assert world.fin.get("s2", f"/v1/notes/{world.kept}/provenance").status_code == 200


def test_suspended_holder_reads_its_own_note(world: World) -> None:
    answer = world.fin.get("s1", f"/v1/notes/{world.kept}")
    assert answer.status_code == 200, answer.text
    assert answer.json()["holder_member"] == world.fin.ids["s1"]


def test_suspended_holder_no_longer_reads_the_rest_of_its_tree(world: World) -> None:
    problem(world.fin.get("s1", f"/v1/notes/{world.passed}"), 404, "note-not-found")
    # an active member of the same tree still does
    assert world.fin.get("s2", f"/v1/notes/{world.kept}").status_code == 200


def test_suspended_member_cannot_read_provenance_even_of_its_own_note(world: World) -> None:
    problem(world.fin.get("s1", f"/v1/notes/{world.kept}/provenance"), 403, "member-suspended")


def test_suspended_holder_lists_only_the_notes_it_holds_or_owes(world: World) -> None:
    answer = world.fin.get("s1", "/v1/notes")
    assert answer.status_code == 200, answer.text
    ids = {n["id"] for n in answer.json()["items"]}
    assert ids == {world.root, world.kept}  # the split root it held, its piece; not s2's piece
    assert all(n["holder_member"] == world.fin.ids["s1"] for n in answer.json()["items"])


def test_suspended_obligor_lists_the_notes_it_owes(world: World) -> None:
    answer = world.fin.get("core", "/v1/notes")
    assert answer.status_code == 200, answer.text
    ids = {n["id"] for n in answer.json()["items"]}
    assert {world.kept, world.passed, world.matured} <= ids
    assert all(n["obligor_member"] == world.fin.ids["core"] for n in answer.json()["items"])


def test_suspended_member_reads_its_own_account_only(world: World) -> None:
    fin = world.fin
    own = fin.get("core", f"/v1/settlement-tokens/USD/accounts/{fin.ids['core']}")
    assert own.status_code == 200, own.text
    problem(fin.get("core", f"/v1/settlement-tokens/USD/accounts/{fin.ids['bank']}"), 404, "not-found")


def test_suspended_holder_may_still_confirm_a_payment_to_it(world: World) -> None:
    # passes the gate: refused by the payment rules (no claim pending), not by the suspension
    answer = world.fin.post("s1", f"/v1/notes/{world.kept}/confirm-payment", {})
    problem(answer, 409, "payment-claim-mismatch")


def test_suspended_obligor_may_still_set_its_allowance_and_pay_what_it_owes(world: World) -> None:
    fin = world.fin
    answer = fin.client.put(
        "/v1/settlement-tokens/USD/allowance", json={"amount": "100000"}, headers=fin.auth("core")
    )
    assert answer.status_code == 200, answer.text
    before = fin.balance("s3")
    answer = fin.post("core", f"/v1/notes/{world.matured}/settle", {})
    assert answer.status_code == 200, answer.text
    assert answer.json()["action"] == "paid" and answer.json()["remaining"] == "0"
    assert fin.balance("s3") == before + 500


def test_suspended_obligor_cannot_issue(world: World) -> None:
    fin = world.fin
    problem(fin.post("core", "/v1/notes", fin.issue_body("s2", "10")), 403, "member-suspended")
