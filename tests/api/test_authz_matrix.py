"""Authorization matrix: every endpoint x every kind of caller -> the status (and problem type) the
gateway defines.

The rules, as service/api implements them:

* no `Authorization` header, or an unknown key: 401 `unauthorized` on every endpoint;
* operator-only endpoints (onboard, suspend, reinstate, freeze, unfreeze) and role-gated ones
  (credit limits: financier; issue and revoke: core enterprise) answer 403 `forbidden` to the
  other roles before looking at the note or member they name (so no 404 can leak there);
* the other note actions first look the note up among those the caller may see: 404
  `note-not-found` when it may not (unrelated supplier; a financier the obligor never approved,
  approved with a zero grant, or withdrew), then 403 `not-holder` unless the caller holds it;
* reads: the registry is open to every member; a note, its provenance and the note list show only
  what the caller may see (operator and auditor see all; holder, obligor and a financier the
  obligor approved with a grant above 0 see the tree);
* credit relationships: approving and withdrawing is for core enterprises (403 to the others);
  a financier lists its own, an obligor its own, the auditor and the operator all.

Writes by an authorised caller are aimed at a state the gateway refuses before sending anything
(409/422 with a specific type), so the matrix checks that authorisation let the caller through
without spending transactions. The consortium and notes are set up once for the module.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.api.context import build_context
from service.api.problems import ERRORS_BASE, PROBLEM_JSON
from service.db.session import make_engine
from tests.api.conftest import Gateway, _Template
from tests.api.test_alerts_api import ALERT_ROUTES
from tests.api.test_events_api import EVENT_ROUTES
from tests.api.test_evidence_api import EVIDENCE_ROUTES
from tests.api.test_financing_authz import COVERED as FINANCING_COVERED
from tests.api.test_funding_api import FUNDING_ROUTES
from tests.api.test_ledger_settings_api import LEDGER_SETTINGS_ROUTES
from tests.api.test_receivable_policy_api import POLICY_ROUTES as RECEIVABLE_POLICY_ROUTES
from tests.api.test_receivables_api import RECEIVABLE_ROUTES
from tests.api.test_settlement_jobs_api import JOB_ROUTES
from tests.api.test_settlement_tokens_api import TOKEN_ROUTES
from tests.api.test_subscriptions_api import SUBSCRIPTION_ROUTES

ROLES = [
    "anonymous",
    "bad-key",
    "operator",
    "core",
    "s1",
    "s3",
    "bank",
    "bank2",
    "bank-zero",
    "bank-gone",
    "auditor",
]
"""Callers: no key, an unknown key, the operator, the obligor (core enterprise), the tier-1 holder
(s1), an unrelated supplier (s3), a financier core approved with a grant to core (bank), a financier
core never approved (bank2), a financier core approved whose grant is 0 (bank-zero), a financier
that granted core credit until core withdrew its approval (bank-gone), the auditor."""

MEMBERS_READERS = {"operator", "core", "s1", "s3", "bank", "bank2", "bank-zero", "bank-gone", "auditor"}
NOTE_VIEWERS = {"operator", "core", "s1", "bank", "auditor"}
RELATIONSHIP_READERS = {"operator", "core", "s1", "s3", "bank", "bank2", "bank-zero", "bank-gone", "auditor"}
SUPPLIERS_APPROVING_BANK = ("s1", "s3")
"""Suppliers approve financiers too (their own evidence-backed receivables): s1 and s3 approved
bank with no grant, which gives bank no visibility."""


@dataclass
class World:
    gw: Gateway
    active: str  # core -> s1, accepted: held by s1, obligor core
    revoked: str  # core -> s1, revoked: not live
    victim: str  # a suspended supplier


@pytest.fixture(scope="module")
def world(_template: _Template, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    path = tmp_path_factory.mktemp("authz") / "gateway.sqlite"
    shutil.copyfile(_template.path, path)
    settings = _template.settings.model_copy(update={"database_url": f"sqlite:///{path}"})
    snapshot = _template.chain.snapshot()
    context = build_context(settings, chain=_template.chain, engine=make_engine(settings.database_url))
    try:
        with TestClient(create_app(context)) as client:
            gw = Gateway(
                client,
                context,
                _template.chain,
                dict(_template.keys),
                dict(_template.ids),
                dict(_template.addresses),
            )
            for name in ("bank2", "bank-zero", "bank-gone", "victim"):
                roles = ["supplier"] if name == "victim" else ["financier"]
                answer = gw.post("operator", "/v1/members", {"name": name, "roles": roles})
                assert answer.status_code == 201, answer.text
                body = answer.json()
                gw.keys[name], gw.ids[name], gw.addresses[name] = body["api_key"], body["id"], body["address"]
            answer = gw.post("operator", f"/v1/members/{gw.ids['victim']}/suspend")
            assert answer.status_code == 200, answer.text
            for name, amount in (("bank-zero", "0"), ("bank-gone", "5000")):
                answer = gw.post("core", "/v1/credit-relationships", {"financier": gw.ids[name]})
                assert answer.status_code == 201, answer.text
                answer = gw.post(name, "/v1/credit-limits", {"obligor": gw.ids["core"], "amount": amount})
                assert answer.status_code == 200, answer.text
            answer = gw.client.delete(
                f"/v1/credit-relationships/{gw.ids['bank-gone']}", headers=gw.auth("core")
            )
            assert answer.status_code == 200 and answer.json()["relationship"]["status"] == "withdrawn"
            for supplier in SUPPLIERS_APPROVING_BANK:
                answer = gw.post(supplier, "/v1/credit-relationships", {"financier": gw.ids["bank"]})
                assert answer.status_code == 201, answer.text
            active = gw.active("s1", "1000")
            revoked = gw.issue("s1", "500")
            answer = gw.post("core", f"/v1/notes/{revoked}/revoke")
            assert answer.status_code == 200, answer.text
            gw.keys["bad-key"] = "cc_not-a-real-key"
            yield World(gw, active, revoked, gw.ids["victim"])
    finally:
        context.close()
        _template.chain.revert(snapshot)


@dataclass(frozen=True)
class Endpoint:
    """One request; `path` and `body` may use {active}, {revoked}, {victim} and {<member>} ids."""

    name: str
    method: str
    path: str
    body: Any = None
    expect: dict[str, tuple[int, str | None]] | None = None
    """role -> (status, problem slug or None for 2xx); roles not named get `default`."""
    default: tuple[int, str | None] = (403, "forbidden")


def _only(roles: set[str], allowed: tuple[int, str | None], other: tuple[int, str | None]) -> dict[str, Any]:
    return {role: allowed if role in roles else other for role in ROLES}


def _note_action(holder_answer: tuple[int, str | None]) -> dict[str, tuple[int, str | None]]:
    """A holder action on the active note: 404 to those who may not see it, 403 not-holder to those
    who may, and `holder_answer` to s1."""
    expect: dict[str, tuple[int, str | None]] = {}
    for role in ROLES:
        if role == "s1":
            expect[role] = holder_answer
        elif role in NOTE_VIEWERS:
            expect[role] = (403, "not-holder")
        else:
            expect[role] = (404, "note-not-found")
    return expect


READ_ALL = _only(MEMBERS_READERS, (200, None), (0, None))
READ_NOTE = _only(NOTE_VIEWERS, (200, None), (404, "note-not-found"))

ENDPOINTS = [
    Endpoint("members-list", "GET", "/v1/members", expect=READ_ALL),
    # any member may ask; a hash neither the node nor the gateway knows is 404
    Endpoint(
        "transactions-get",
        "GET",
        "/v1/transactions/{tx_hash}",
        default=(404, "transaction-not-found"),
    ),
    Endpoint("members-get", "GET", "/v1/members/{core}", expect=READ_ALL),
    Endpoint(
        "members-create",
        "POST",
        "/v1/members",
        # the address of an existing member: refused (409) before anything is sent
        {"name": "again", "roles": ["supplier"], "address": "{addr:s3}"},
        expect={"operator": (409, "member-exists")},
    ),
    Endpoint(
        "members-suspend",
        "POST",
        "/v1/members/{victim}/suspend",
        expect={"operator": (409, "member-suspended")},
    ),
    Endpoint(
        "members-reinstate",
        "POST",
        "/v1/members/{s3}/reinstate",
        expect={"operator": (409, "member-not-suspended")},
    ),
    Endpoint(
        "credit-limits",
        "POST",
        "/v1/credit-limits",
        {"obligor": "m_nobody", "amount": "1000"},
        expect={role: (422, "not-a-member") for role in ("bank", "bank2", "bank-zero", "bank-gone")},
    ),
    Endpoint(
        # core, s1 and s3 have approved bank already: refused before anything is sent
        "credit-relationships-approve",
        "POST",
        "/v1/credit-relationships",
        {"financier": "{bank}"},
        expect={who: (409, "financier-already-approved") for who in ("core", *SUPPLIERS_APPROVING_BANK)},
    ),
    Endpoint(
        # core, s1 and s3 never approved bank2: nothing to withdraw
        "credit-relationships-withdraw",
        "DELETE",
        "/v1/credit-relationships/{bank2}",
        expect={who: (409, "financier-not-approved") for who in ("core", *SUPPLIERS_APPROVING_BANK)},
    ),
    Endpoint(
        "credit-relationships-list",
        "GET",
        "/v1/credit-relationships",
        expect=_only(RELATIONSHIP_READERS, (200, None), (403, "forbidden")),
    ),
    Endpoint(
        "notes-create",
        "POST",
        "/v1/notes",
        "ISSUE",  # an issue to the obligor itself: refused as self-dealing
        expect={"core": (422, "self-dealing")},
    ),
    Endpoint("notes-list", "GET", "/v1/notes", expect=READ_ALL),
    Endpoint("notes-get", "GET", "/v1/notes/{active}", expect=READ_NOTE),
    Endpoint("notes-provenance", "GET", "/v1/notes/{active}/provenance", expect=READ_NOTE),
    Endpoint(
        "notes-accept", "POST", "/v1/notes/{active}/accept", expect=_note_action((409, "note-not-pending"))
    ),
    Endpoint(
        "notes-reject", "POST", "/v1/notes/{active}/reject", expect=_note_action((409, "note-not-pending"))
    ),
    # revoke checks the core-enterprise role before the note: 403 forbidden, even to non-viewers
    Endpoint("notes-revoke", "POST", "/v1/notes/{active}/revoke", expect={"core": (409, "note-not-pending")}),
    Endpoint(
        "notes-split",
        "POST",
        "/v1/notes/{active}/split",
        {"parts": [{"to": "{s3}", "amount": "1"}, {"to": "{s1}", "amount": "1"}]},
        expect=_note_action((422, "amounts-do-not-sum")),
    ),
    Endpoint(
        "notes-transfer",
        "POST",
        "/v1/notes/{active}/transfer",
        {"to": "{s1}"},
        expect=_note_action((422, "self-dealing")),
    ),
    Endpoint(
        "notes-freeze",
        "POST",
        "/v1/notes/{revoked}/freeze",
        {"reason": "court order"},
        expect={"operator": (409, "note-not-live")},
    ),
    Endpoint(
        "notes-unfreeze", "POST", "/v1/notes/{active}/unfreeze", expect={"operator": (409, "note-not-frozen")}
    ),
    # the relay serves self-custodied members only: every caller here has a custodial key
    Endpoint(
        "relay-prepare",
        "POST",
        "/v1/relay/prepare",
        {"data": "0x00000000"},
        default=(409, "custodial-member"),
    ),
    Endpoint(
        "relay",
        "POST",
        "/v1/relay",
        {
            "request": {
                "from": "{addr:s1}",
                "to": "{addr:s3}",
                "value": "0",
                "gas": "100000",
                "nonce": "0",
                "deadline": 1,
                "data": "0x00000000",
            },
            "signature": "0x" + "00" * 65,
        },
        default=(409, "custodial-member"),
    ),
]


def _expected(endpoint: Endpoint, role: str) -> tuple[int, str | None]:
    if role in ("anonymous", "bad-key"):
        return 401, "unauthorized"
    expect = endpoint.expect or {}
    return expect.get(role, endpoint.default)


def _fill(value: Any, world: World) -> Any:
    gw = world.gw
    if isinstance(value, str):
        names = {
            "active": world.active,
            "revoked": world.revoked,
            "victim": world.victim,
            "tx_hash": "0x" + "ab" * 32,
            **gw.ids,
        }
        for name, address in gw.addresses.items():
            value = value.replace("{addr:" + name + "}", address)
        for name, ident in names.items():
            value = value.replace("{" + name + "}", ident)
        return value
    if isinstance(value, dict):
        return {k: _fill(v, world) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, world) for v in value]
    return value


CASES = [
    pytest.param(endpoint, role, id=f"{endpoint.name}-{role}")
    for endpoint in ENDPOINTS
    for role in ROLES
    if _expected(endpoint, role)[0] != 0
]


def test_matrix_covers_every_route(world: World) -> None:
    paths = world.gw.client.app.openapi()["paths"]  # type: ignore[attr-defined]
    routes = {
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/v1/")
        for method in operations
    }
    covered = set()
    for endpoint in ENDPOINTS:
        template = endpoint.path
        for placeholder in ("{active}", "{revoked}"):
            template = template.replace(placeholder, "{note_id}")
        for placeholder in ("{core}", "{victim}", "{s3}"):
            template = template.replace(placeholder, "{member_id}")
        template = template.replace("{bank2}", "{financier}")
        covered.add((endpoint.method, template))
    covered |= FINANCING_COVERED  # the financing routes have their own matrix
    covered |= TOKEN_ROUTES  # and the settlement-token routes their own tests
    covered |= LEDGER_SETTINGS_ROUTES  # and the ledger settings theirs
    covered |= JOB_ROUTES  # and the settlement jobs theirs
    covered |= FUNDING_ROUTES  # and the funding routes theirs
    covered |= SUBSCRIPTION_ROUTES  # and the webhook subscriptions theirs
    covered |= EVENT_ROUTES | ALERT_ROUTES  # and the event log and the alerts theirs
    covered |= RECEIVABLE_POLICY_ROUTES | EVIDENCE_ROUTES | RECEIVABLE_ROUTES  # and the receivables theirs
    assert len(routes) >= 17 and routes <= covered, sorted(routes - covered)


@pytest.mark.parametrize(("endpoint", "role"), CASES)
def test_authz(world: World, endpoint: Endpoint, role: str) -> None:
    gw = world.gw
    headers = {} if role == "anonymous" else gw.auth(role)
    path = _fill(endpoint.path, world)
    if endpoint.body == "ISSUE":
        body: Any = gw.issue_body(to="core")
    else:
        body = _fill(endpoint.body, world)
    if endpoint.method == "GET":
        answer = gw.client.get(path, headers=headers)
    elif endpoint.method == "DELETE":
        answer = gw.client.delete(path, headers=headers)
    else:
        answer = gw.client.post(path, json=body, headers=headers)
    status, slug = _expected(endpoint, role)
    assert answer.status_code == status, f"{endpoint.method} {path} as {role}: {answer.text}"
    if status >= 400:
        assert answer.headers["content-type"].startswith(PROBLEM_JSON), answer.headers
        problem = answer.json()
        assert problem["type"] == ERRORS_BASE + str(slug), problem
        assert problem["status"] == status and problem["title"]
        if status == 401:
            assert answer.headers["www-authenticate"] == "Bearer"
    if endpoint.name == "notes-list" and status == 200:
        ids = {item["id"] for item in answer.json()["items"]}
        assert (world.active in ids) == (role in NOTE_VIEWERS), (role, ids)
    if endpoint.name == "credit-relationships-list" and status == 200:
        pairs = {(item["financier_member"], item["obligor_member"]) for item in answer.json()["items"]}
        financiers = ("bank", "bank-zero", "bank-gone")
        everything = {(gw.ids[f], gw.ids["core"]) for f in financiers}
        everything |= {(gw.ids["bank"], gw.ids[s]) for s in SUPPLIERS_APPROVING_BANK}
        if role in ("operator", "auditor"):
            assert pairs == everything, (role, pairs)
        elif role in ("core", *SUPPLIERS_APPROVING_BANK):  # an obligor sees its own
            assert pairs == {p for p in everything if p[1] == gw.ids[role]}, (role, pairs)
        else:  # a financier sees its own relationships only
            assert pairs == {p for p in everything if p[0] == gw.ids[role]}, (role, pairs)


NOT_FINANCING = ["bank2", "bank-zero", "bank-gone"]


@pytest.mark.parametrize("role", NOT_FINANCING)
def test_a_financier_without_an_approved_grant_sees_no_note_of_the_obligor(world: World, role: str) -> None:
    """Never approved, approved with a zero grant, or withdrawn: no note, tree, provenance or
    reference of the obligor's, whether asked by id or listed."""
    gw = world.gw
    for note_id in (world.active, world.revoked):
        for path in (f"/v1/notes/{note_id}", f"/v1/notes/{note_id}/provenance"):
            answer = gw.get(role, path)
            assert answer.status_code == 404, (role, path, answer.text)
            assert answer.json()["type"] == ERRORS_BASE + "note-not-found"
    listed = gw.get(role, "/v1/notes")
    assert listed.status_code == 200 and listed.json()["items"] == [], listed.text


def test_nothing_was_sent_by_refused_writes(world: World) -> None:
    """The refused writes left the ledger as the setup made it."""
    gw = world.gw
    ledger = gw.context.ledger
    note = ledger.get_note(int(world.active))
    assert note.holder == gw.addresses["s1"] and note.amount == 1000 and not note.frozen
    assert note.status.name == "ACTIVE"
    assert ledger.get_note(int(world.revoked)).status.name == "REVOKED"
    assert ledger.get_member(gw.addresses["victim"]).status.name == "SUSPENDED"
    assert ledger.get_member(gw.addresses["s3"]).status.name == "ACTIVE"
    assert ledger.credit_grant(gw.addresses["bank2"], gw.addresses["core"]) == 0
    assert ledger.financier_approved(gw.addresses["core"], gw.addresses["bank2"]) is False
    assert ledger.financier_approved(gw.addresses["core"], gw.addresses["bank"]) is True
    assert ledger.credit_grant(gw.addresses["bank-zero"], gw.addresses["core"]) == 0
    assert ledger.credit_grant(gw.addresses["bank-gone"], gw.addresses["core"]) == 0
