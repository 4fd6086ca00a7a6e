"""Authorization matrix of the financing endpoints: every endpoint x every kind of caller, on a note
held by s1 and owed by core (someone else's note for most callers).

The rules, as the financing routes implement them:

* no `Authorization` header or an unknown key: 401 `unauthorized` everywhere;
* role-gated writes answer 403 `forbidden` to the other roles before looking at the note or offer
  (offer, cancel, record payment: financier; settle a note or a root: core enterprise; write-off:
  operator);
* otherwise the note (or offer) is looked up among those the caller may see: 404 when it may not
  (`note-not-found`, `offer-not-found`), then 403 when it is not the caller's to act on
  (`not-holder`);
* offers are seen by their financier, the holder they were made to (and the note's holder now),
  the auditor and the operator; quotes by whoever may see the note; risk views by financiers,
  auditors and the operator, a financier's covering only obligors that approved it and to which it
  grants credit above 0 (and those of notes it holds).

Writes by an authorised caller aim at a state the gateway refuses before sending anything, so the
matrix spends no transactions; the last test checks that nothing moved.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from service.api.problems import ERRORS_BASE, PROBLEM_JSON
from tests.api.financing import Fin, FinTemplate, fin_template_fixture, gateway_on  # noqa: F401

ROLES = [
    "anonymous",
    "bad-key",
    "operator",
    "core",
    "core2",
    "s1",
    "s3",
    "bank",
    "bank2",
    "bank-zero",
    "bank-gone",
    "auditor",
]
"""Callers: no key, an unknown key, the operator, the note's obligor (core), another obligor
(core2), the holder (s1), an unrelated supplier (s3), the financier granting core credit and making
the offers (bank), a financier granting only core2, never approved by core (bank2), a financier core
approved whose grant is 0 (bank-zero), a financier that granted core credit until core withdrew its
approval (bank-gone), the auditor."""

MEMBERS = set(ROLES) - {"anonymous", "bad-key"}
NOTE_VIEWERS = {"operator", "core", "s1", "bank", "auditor"}
OFFER_VIEWERS = {"operator", "s1", "bank", "auditor"}
OTHER_FINANCIERS = {"bank2", "bank-zero", "bank-gone"}
"""Financiers that may not see core's notes: never approved, a zero grant, withdrawn."""
RISK_READERS = {"operator", "bank", "auditor"} | OTHER_FINANCIERS
Expect = tuple[int, str | None]


@dataclass
class World:
    fin: Fin
    ids: dict[str, str]
    state: dict[str, Any]


@pytest.fixture(scope="module")
def world(fin_template: FinTemplate, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with gateway_on(fin_template, tmp_path_factory.mktemp("financing-authz")) as fin:
        for name, amount in (("bank-zero", "0"), ("bank-gone", "5000")):
            member = fin.post("operator", "/v1/members", {"name": name, "roles": ["financier"]}).json()
            fin.keys[name], fin.ids[name] = member["api_key"], member["id"]
            fin.addresses[name] = member["address"]
            answer = fin.post("core", "/v1/credit-relationships", {"financier": fin.ids[name]})
            assert answer.status_code == 201, answer.text
            answer = fin.post(name, "/v1/credit-limits", {"obligor": fin.ids["core"], "amount": amount})
            assert answer.status_code == 200, answer.text
        note = fin.issue_to("s1", 1_000_000, days=30)
        gone = f"/v1/credit-relationships/{fin.ids['bank-gone']}"
        answer = fin.client.delete(gone, headers=fin.auth("core"))
        assert answer.status_code == 200, answer.text
        offer = fin.offer(note, days=10)["id"]
        off_chain = fin.offer(note, days=10, off_chain=True)["id"]
        cancelled = fin.offer(note, days=10)["id"]
        assert fin.post("bank", f"/v1/discount-offers/{cancelled}/cancel").status_code == 200
        fin.keys["bad-key"] = "cc_not-a-real-key"
        ids = {"note": note, "offer": offer, "off_chain": off_chain, "cancelled": cancelled}
        yield World(fin, ids, fin.state())


def _by(groups: list[tuple[set[str], Expect]], default: Expect) -> dict[str, Expect]:
    expect = {}
    for role in MEMBERS:
        expect[role] = next((answer for roles, answer in groups if role in roles), default)
    return expect


def _payer_gated(answer: Expect) -> dict[str, Expect]:
    """A payment by an obligor of record (core enterprises, and suppliers for their own receivables):
    `answer` to core, 404 to those of the payer roles who may not see the note, 403 not-obligor to
    the holder s1, 403 forbidden to the other roles."""
    return _by(
        [({"core"}, answer), ({"core2", "s3"}, (404, "note-not-found")), ({"s1"}, (403, "not-obligor"))],
        (403, "forbidden"),
    )


def _note_gated(allowed: str, answer: Expect, role_slug: str = "forbidden") -> dict[str, Expect]:
    """A role-gated write: 403 to other roles, 404 to a same-role member who may not see the note."""
    same_role = {"core": {"core2"}, "bank": OTHER_FINANCIERS, "operator": set()}[allowed]
    return _by([({allowed}, answer), (same_role, (404, "note-not-found"))], (403, role_slug))


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str
    expect: dict[str, Expect]
    body: Any = None
    params: dict[str, str] | None = None


ENDPOINTS = [
    Endpoint(
        "offer",
        "POST",
        "/v1/notes/{note}/discount-offers",
        _note_gated("bank", (422, "invalid-price")),
        body={"price": "99999999", "deadline": "MATURITY"},
    ),
    Endpoint("offers-list", "GET", "/v1/discount-offers", _by([], (200, None))),
    Endpoint(
        "offers-get",
        "GET",
        "/v1/discount-offers/{offer}",
        _by([(OFFER_VIEWERS, (200, None))], (404, "offer-not-found")),
    ),
    Endpoint(
        "offers-accept",
        "POST",
        "/v1/discount-offers/{off_chain}/accept",
        _by(
            [({"s1"}, (409, "discount-payment-not-recorded")), (OFFER_VIEWERS, (403, "not-holder"))],
            (404, "offer-not-found"),
        ),
    ),
    Endpoint(
        "offers-cancel",
        "POST",
        "/v1/discount-offers/{cancelled}/cancel",
        _by(
            [({"bank"}, (409, "offer-not-open")), (OTHER_FINANCIERS, (404, "offer-not-found"))],
            (403, "forbidden"),
        ),
    ),
    Endpoint(
        "offers-payment",
        "POST",
        "/v1/discount-offers/{offer}/payment",
        _by(
            [({"bank"}, (409, "not-an-off-chain-offer")), (OTHER_FINANCIERS, (404, "offer-not-found"))],
            (403, "forbidden"),
        ),
        body={"reference": "WIRE-1"},
    ),
    Endpoint("notes-settle", "POST", "/v1/notes/{note}/settle", _payer_gated((409, "note-not-matured"))),
    Endpoint(
        "notes-confirm-payment",
        "POST",
        "/v1/notes/{note}/confirm-payment",
        _by(
            [({"s1"}, (409, "payment-claim-mismatch")), (NOTE_VIEWERS, (403, "not-holder"))],
            (404, "note-not-found"),
        ),
    ),
    Endpoint(
        "notes-payment-claim-withdraw",
        "POST",
        "/v1/notes/{note}/payment-claim/withdraw",
        _payer_gated((409, "no-payment-claim")),
    ),
    Endpoint("roots-settle", "POST", "/v1/roots/{note}/settle", _payer_gated((409, "note-not-matured"))),
    Endpoint(
        "notes-mark-overdue",
        "POST",
        "/v1/notes/{note}/mark-overdue",
        _by([(NOTE_VIEWERS, (409, "not-overdue-yet"))], (404, "note-not-found")),
    ),
    Endpoint(
        "notes-write-off",
        "POST",
        "/v1/notes/{note}/write-off",
        _note_gated("operator", (409, "not-overdue-yet")),
        body={"reference": "decision-1"},
    ),
    Endpoint(
        "quotes",
        "GET",
        "/v1/quotes/discount",
        _by([(NOTE_VIEWERS, (200, None))], (404, "note-not-found")),
        params={"note": "{note}", "rate": "0.05"},
    ),
    *[
        Endpoint(
            f"risk-{view}", "GET", f"/v1/risk/{view}", _by([(RISK_READERS, (200, None))], (403, "forbidden"))
        )
        for view in ("exposure", "maturity-ladder", "concentration", "overdue", "evidence-exposure")
    ],
]


def _template(path: str) -> str:
    for placeholder in ("{offer}", "{off_chain}", "{cancelled}"):
        path = path.replace(placeholder, "{offer_id}")
    if path.startswith("/v1/roots/"):
        return path.replace("{note}", "{root_id}")
    return path.replace("{note}", "{note_id}")


COVERED = {(e.method, _template(e.path)) for e in ENDPOINTS}
"""(method, path template) of every financing route (tests/api/test_authz_matrix.py counts these as
covered when it checks that every route of the gateway is in a matrix)."""


def _fill(value: Any, world: World) -> Any:
    if isinstance(value, str):
        if value == "MATURITY":
            return world.fin.maturity(10)
        for name, ident in world.ids.items():
            value = value.replace("{" + name + "}", ident)
        return value
    if isinstance(value, dict):
        return {k: _fill(v, world) for k, v in value.items()}
    return value


def _expected(endpoint: Endpoint, role: str) -> Expect:
    if role in ("anonymous", "bad-key"):
        return 401, "unauthorized"
    return endpoint.expect[role]


CASES = [pytest.param(e, role, id=f"{e.name}-{role}") for e in ENDPOINTS for role in ROLES]


@pytest.mark.parametrize(("endpoint", "role"), CASES)
def test_authz(world: World, endpoint: Endpoint, role: str) -> None:
    fin = world.fin
    headers = {} if role == "anonymous" else fin.auth(role)
    path = _fill(endpoint.path, world)
    if endpoint.method == "GET":
        answer = fin.client.get(path, params=_fill(endpoint.params, world), headers=headers)
    else:
        answer = fin.client.post(path, json=_fill(endpoint.body, world), headers=headers)
    status, slug = _expected(endpoint, role)
    assert answer.status_code == status, f"{endpoint.method} {path} as {role}: {answer.text}"
    if status >= 400:
        assert answer.headers["content-type"].startswith(PROBLEM_JSON), answer.headers
        problem = answer.json()
        assert problem["type"] == ERRORS_BASE + str(slug), problem
        assert problem["status"] == status and problem["title"]
        if status == 401:
            assert answer.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("role", sorted(OTHER_FINANCIERS))
def test_a_financier_without_an_approved_grant_sees_no_offer_or_risk_of_the_obligor(
    world: World, role: str
) -> None:
    """Never approved, approved with a zero grant, or withdrawn: none of core's offers, and no risk
    row (exposure, ladder, concentration, overdue) that comes from core's notes."""
    fin = world.fin
    core = fin.addresses["core"]
    offers = fin.get(role, "/v1/discount-offers")
    assert offers.status_code == 200 and offers.json()["items"] == [], offers.text
    exposure = fin.get(role, "/v1/risk/exposure").json()
    assert core not in {row["obligor"] for row in exposure["items"]}, exposure
    for view in ("maturity-ladder", "concentration", "overdue"):
        answer = fin.get(role, f"/v1/risk/{view}")
        assert answer.status_code == 200 and answer.json()["items"] == [], (view, answer.text)
    csv = fin.get(role, "/v1/risk/exposure", format="csv")
    assert core not in csv.text


def test_the_obligors_approved_financier_with_a_grant_sees_its_risk(world: World) -> None:
    fin = world.fin
    exposure = fin.get("bank", "/v1/risk/exposure").json()
    rows = {row["obligor"]: row for row in exposure["items"]}
    assert rows[fin.addresses["core"]]["live_amount"] == "1000000", rows
    ladder = fin.get("bank", "/v1/risk/maturity-ladder").json()
    assert ladder["items"], ladder


def test_the_matrix_covers_every_financing_route(world: World) -> None:
    paths = world.fin.client.app.openapi()["paths"]  # type: ignore[attr-defined]
    prefixes = ("/v1/discount-offers", "/v1/roots", "/v1/quotes", "/v1/risk")
    suffixes = (
        "/discount-offers",
        "/settle",
        "/confirm-payment",
        "/payment-claim/withdraw",
        "/mark-overdue",
        "/write-off",
    )
    routes = {
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith(prefixes) or path.endswith(suffixes)
        for method in operations
    }
    assert len(routes) == 18 and routes == COVERED, sorted(routes ^ COVERED)


def test_nothing_was_sent_by_refused_writes(world: World) -> None:
    assert world.fin.state() == world.state
