"""The console over TestClient: sessions, CSRF, visibility, languages, and each page of each role
rendered through the API's services (the browser story is tests/console/test_console_browser.py).
Here beside the API tests, whose session-scoped consortium they share."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from service.console.sessions import member_sessions
from service.db.gateway_models import ConsoleSession
from tests.api.conftest import Gateway
from tests.console.helpers import csrf_of, form_tokens, sign_in


def test_a_page_without_a_session_sends_the_browser_to_sign_in(gw: Gateway) -> None:
    answer = gw.client.get("/console/notes", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in?next=%2Fconsole%2Fnotes"


def test_sign_in_sets_an_httponly_strict_session_cookie_that_is_not_the_api_key(gw: Gateway) -> None:
    page = gw.client.get("/console/sign-in")
    answer = gw.client.post(
        "/console/sign-in",
        data={"csrf_token": csrf_of(page.text), "api_key": gw.keys["s1"], "next": "/console/notes"},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/console/notes"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("cc_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert gw.keys["s1"] not in cookie


def test_an_unknown_api_key_is_refused_beside_the_field(gw: Gateway) -> None:
    page = gw.client.get("/console/sign-in")
    answer = gw.client.post(
        "/console/sign-in",
        data={"csrf_token": csrf_of(page.text), "api_key": "cc_nobody", "next": "/console/"},
    )
    assert answer.status_code == 401
    assert 'data-error-for="api_key"' in answer.text and "cc_session" not in gw.client.cookies


def test_sign_in_without_the_form_token_is_refused(gw: Gateway) -> None:
    gw.client.get("/console/sign-in")
    answer = gw.client.post("/console/sign-in", data={"api_key": gw.keys["s1"]}, follow_redirects=False)
    assert answer.status_code == 403
    assert "cc_session" not in gw.client.cookies


def test_a_write_without_the_csrf_token_is_refused_and_does_nothing(gw: Gateway) -> None:
    note = gw.issue("s1")
    sign_in(gw.client, gw.keys["s1"])
    answer = gw.client.post(f"/console/notes/{note}/accept", data={"idempotency_key": "k1"})
    assert answer.status_code == 403
    assert "Form refused" in answer.text
    assert gw.get("s1", f"/v1/notes/{note}").json()["status"] == "pending"


def test_a_write_with_another_sessions_csrf_token_is_refused(gw: Gateway) -> None:
    note = gw.issue("s1")
    other = TestClient(gw.client.app)
    sign_in(other, gw.keys["s1"])
    stolen = csrf_of(other.get("/console/notes").text)
    sign_in(gw.client, gw.keys["s1"])
    answer = gw.client.post(
        f"/console/notes/{note}/accept", data={"csrf_token": stolen, "idempotency_key": "k"}
    )
    assert answer.status_code == 403


def test_signing_out_ends_the_session_server_side(gw: Gateway) -> None:
    sign_in(gw.client, gw.keys["s1"])
    cookie = gw.client.cookies["cc_session"]
    page = gw.client.get("/console/notes")
    answer = gw.client.post(
        "/console/sign-out", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False
    )
    assert answer.status_code == 303
    replay = TestClient(gw.client.app, cookies={"cc_session": cookie})
    assert replay.get("/console/notes", follow_redirects=False).status_code == 303
    with gw.context.session() as session:
        assert session.scalar(select(func.count()).select_from(ConsoleSession)) == 0


def test_sessions_per_member_are_bounded_the_oldest_ending(gw: Gateway) -> None:
    bound = gw.context.settings.console_sessions_per_member
    clients = [TestClient(gw.client.app) for _ in range(bound + 1)]
    for client in clients:
        sign_in(client, gw.keys["s2"])
    assert member_sessions(gw.context, gw.ids["s2"]) == bound
    assert clients[0].get("/console/notes", follow_redirects=False).status_code == 303
    assert clients[-1].get("/console/notes").status_code == 200


def test_another_members_note_is_the_404_page(gw: Gateway) -> None:
    note = gw.active("s1")
    sign_in(gw.client, gw.keys["s3"])
    answer = gw.client.get(f"/console/notes/{note}")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "Not found" in answer.text and note not in answer.text.split("<main", 1)[1]


def test_accept_through_the_console_acts_once_for_a_double_submission(gw: Gateway) -> None:
    note = gw.issue("s1")
    sign_in(gw.client, gw.keys["s1"])
    tokens = form_tokens(gw.client.get("/console/notes").text)
    first = gw.client.post(f"/console/notes/{note}/accept", data=tokens, follow_redirects=False)
    second = gw.client.post(f"/console/notes/{note}/accept", data=tokens, follow_redirects=False)
    assert first.status_code == second.status_code == 303
    assert gw.get("s1", f"/v1/notes/{note}").json()["status"] == "active"
    events = gw.get("s1", "/v1/events", types="note.accepted").json()["items"]
    assert len([e for e in events if e["note_id"] == note]) == 1


def test_an_over_split_shows_the_problem_beside_the_parts(gw: Gateway) -> None:
    note = gw.active("s1", "1000000")  # USD 10,000.00
    sign_in(gw.client, gw.keys["s1"])
    tokens = form_tokens(gw.client.get(f"/console/notes/{note}").text)
    answer = gw.client.post(
        f"/console/notes/{note}/split",
        data={
            **tokens,
            "parts.0.to": gw.ids["s1"],
            "parts.0.amount": "6,000.00",
            "parts.1.to": gw.ids["s2"],
            "parts.1.amount": "5,000.00",
        },
    )
    assert answer.status_code == 422
    assert re.search(r'data-error-for="parts">[^<]*do not add up', answer.text)
    assert gw.get("s1", f"/v1/notes/{note}").json()["status"] == "active"


def test_a_bad_amount_is_shown_beside_its_field_and_nothing_is_sent(gw: Gateway) -> None:
    note = gw.active("s1", "1000000")
    sign_in(gw.client, gw.keys["s1"])
    tokens = form_tokens(gw.client.get(f"/console/notes/{note}").text)
    answer = gw.client.post(
        f"/console/notes/{note}/split",
        data={**tokens, "parts.0.to": gw.ids["s1"], "parts.0.amount": "12.345", "parts.1.to": gw.ids["s2"]},
    )
    assert answer.status_code == 422
    assert re.search(r'data-error-for="parts.0.amount">USD has 2 decimals at most', answer.text)


def test_the_split_through_the_console_makes_the_parts_in_minor_units(gw: Gateway) -> None:
    note = gw.active("s1", "1000000")
    sign_in(gw.client, gw.keys["s1"])
    tokens = form_tokens(gw.client.get(f"/console/notes/{note}").text)
    answer = gw.client.post(
        f"/console/notes/{note}/split",
        data={
            **tokens,
            "parts.0.to": gw.ids["s1"],
            "parts.0.amount": "6,000.01",
            "parts.1.to": "",
            "parts.1.amount": "",
            "parts.2.to": gw.ids["s2"],
            "parts.2.amount": "3999.99",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    children = [n for n in gw.get("s1", "/v1/notes", root=note).json()["items"] if n["parent_id"] == note]
    assert sorted(n["amount"] for n in children) == ["399999", "600001"]


def test_accept_language_chooses_chinese_and_the_switch_overrides_it(gw: Gateway) -> None:
    page = gw.client.get("/console/sign-in", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert '<html lang="zh-Hans">' in page.text and "登录" in page.text
    gw.client.get("/console/language?set=en&back=/console/sign-in")
    page = gw.client.get("/console/sign-in", headers={"Accept-Language": "zh-CN"})
    assert '<html lang="en">' in page.text and "Sign in" in page.text


ROLE_PAGES = {
    "s1": ["/console/", "/console/notes", "/console/offers", "/console/payments", "/console/evidence"],
    "core": ["/console/issue", "/console/calendar", "/console/notes"],
    "bank": ["/console/holdings", "/console/credit-limits", "/console/offers"],
    "operator": ["/console/members", "/console/search?q=s1"],
    "auditor": ["/console/search?q=invoice%2042", "/console/notes", "/console/risk", "/console/alerts"],
    "s2": ["/console/subscriptions", "/console/alerts"],
}


@pytest.mark.parametrize("who", sorted(ROLE_PAGES))
def test_each_roles_pages_render_in_both_languages(gw: Gateway, who: str) -> None:
    gw.active("s1")
    sign_in(gw.client, gw.keys[who])
    for path in ROLE_PAGES[who]:
        for language, marker in (("en", '<html lang="en">'), ("zh", '<html lang="zh-Hans">')):
            answer = gw.client.get(path, headers={"Accept-Language": language})
            assert answer.status_code == 200, (path, answer.text[:2000])
            assert marker in answer.text
            assert answer.headers["content-security-policy"].startswith("default-src 'self'")
            title = re.search(r"<title>(.*?)</title>", answer.text, re.S)
            assert title is not None and "<" not in title.group(1), (path, title)  # text, not markup


def test_a_supplier_is_refused_the_operators_members_page(gw: Gateway) -> None:
    sign_in(gw.client, gw.keys["s1"])
    answer = gw.client.get("/console/members")
    assert answer.status_code == 403 and "Not allowed" in answer.text


def test_the_quote_shows_the_day_count_computation(gw: Gateway) -> None:
    note = gw.active("s1", "1500000")  # USD 15,000.00, 90 days
    sign_in(gw.client, gw.keys["bank"])
    answer = gw.client.get(f"/console/notes/{note}/quote", params={"rate": "4.5", "basis": "ACT/360"})
    assert answer.status_code == 200
    quote = gw.get("bank", "/v1/quotes/discount", note=note, rate="0.045").json()
    assert f"= {quote['days']} actual days (ACT/360)" in answer.text
    assert "⌈USD 15,000.00 × 0.045" in answer.text  # noqa: RUF001
    assert f"USD {int(quote['price']) // 100:,}.{int(quote['price']) % 100:02d}" in answer.text


def test_a_bank_offer_through_the_console_is_the_apis_offer(gw: Gateway) -> None:
    registered = gw.post("operator", "/v1/settlement-tokens", {"currency": "USD"})
    assert registered.status_code == 201, registered.text
    note = gw.active("s1", "1500000")
    sign_in(gw.client, gw.keys["bank"])
    tokens = form_tokens(gw.client.get(f"/console/notes/{note}/offer").text)
    answer = gw.client.post(
        f"/console/notes/{note}/offer",
        data={**tokens, "rate": "4.5", "basis": "ACT/360", "validity_days": "3"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    offers = gw.get("s1", "/v1/discount-offers", note=note).json()["items"]
    assert [(o["rate"], o["basis"], o["status"]) for o in offers] == [("0.045", "ACT/360", "open")]


def test_an_issue_without_the_invoice_hash_is_refused_beside_it(gw: Gateway) -> None:
    sign_in(gw.client, gw.keys["core"])
    tokens = form_tokens(gw.client.get("/console/issue").text)
    answer = gw.client.post(
        "/console/issue",
        data={
            **tokens,
            "to": gw.ids["s1"],
            "currency": "USD",
            "amount": "1,000.00",
            "maturity": "2099-01-01",
        },
    )
    assert answer.status_code == 422
    assert 'data-error-for="document_hash"' in answer.text


def test_a_problem_names_its_field_or_else_the_whole_form() -> None:
    from service.console.i18n import Translator
    from service.console.writes import problem_errors

    t = Translator("en")
    assert problem_errors(t, {"type": "x/zero-amount", "title": "Zero", "field": "parts.1.amount"}) == {
        "parts.1.amount": "Zero"
    }
    assert set(problem_errors(t, {"type": "x/amounts-do-not-sum", "title": "No"})) == {"parts"}
    assert set(problem_errors(t, {"type": "x/note-frozen", "title": "Frozen"})) == {""}
    errors = problem_errors(
        t,
        {"type": "x/invalid-request", "title": "Bad", "errors": [{"field": "body.to", "message": "missing"}]},
    )
    assert errors == {"to": "Bad — missing"}


def test_the_operator_onboards_a_member_and_sees_its_key_once(gw: Gateway) -> None:
    sign_in(gw.client, gw.keys["operator"])
    tokens = form_tokens(gw.client.get("/console/members").text)
    answer = gw.client.post(
        "/console/members", data={**tokens, "name": "Tier Four Ltd", "roles": ["supplier"]}
    )
    assert answer.status_code == 200, answer.text
    key = re.search(r'data-testid="new-api-key">(cc_[^<]+)<', answer.text)
    assert key is not None
    me = gw.client.get("/v1/members", headers={"Authorization": f"Bearer {key.group(1)}"})
    assert me.status_code == 200
    assert "Tier Four Ltd" in [m["name"] for m in me.json()["items"]]
    again = gw.client.post(
        "/console/members", data={**tokens, "name": "Tier Four Ltd", "roles": ["supplier"]}
    )
    assert "new-api-key" not in again.text  # the same form again: the journal's answer, without the key


def test_a_member_without_roles_is_refused_beside_the_roles(gw: Gateway) -> None:
    sign_in(gw.client, gw.keys["operator"])
    tokens = form_tokens(gw.client.get("/console/members").text)
    answer = gw.client.post("/console/members", data={**tokens, "name": "Nobody"})
    assert answer.status_code == 422
    assert 'data-error-for="roles"' in answer.text


def test_a_transfer_through_the_console_moves_the_whole_note(gw: Gateway) -> None:
    note = gw.active("s1")
    sign_in(gw.client, gw.keys["s1"])
    tokens = form_tokens(gw.client.get(f"/console/notes/{note}").text)
    answer = gw.client.post(f"/console/notes/{note}/transfer", data={**tokens, "to": gw.ids["s2"]})
    assert answer.status_code == 200 and "The note is transferred." in answer.text
    assert gw.get("s2", f"/v1/notes/{note}").json()["holder_member"] == gw.ids["s2"]


def test_a_reject_through_the_console_rejects_the_pending_note(gw: Gateway) -> None:
    note = gw.issue("s1")
    sign_in(gw.client, gw.keys["s1"])
    tokens = form_tokens(gw.client.get("/console/notes").text)
    gw.client.post(f"/console/notes/{note}/reject", data=tokens)
    assert gw.get("s1", f"/v1/notes/{note}").json()["status"] == "rejected"


def test_an_expired_session_signs_nobody_in(gw: Gateway) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    sign_in(gw.client, gw.keys["s1"])
    with gw.context.session() as session:
        session.execute(update(ConsoleSession).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        session.commit()
    assert gw.client.get("/console/notes", follow_redirects=False).status_code == 303


def test_the_obligor_pays_a_matured_note_through_the_console(gw: Gateway) -> None:
    assert gw.post("operator", "/v1/settlement-tokens", {"currency": "USD"}).status_code == 201
    deposit = {"member": gw.ids["core"], "amount": "1000000", "reference": "DEP-CONSOLE-1"}
    assert gw.post("operator", "/v1/settlement-tokens/USD/deposits", deposit).status_code == 200
    allowed = gw.client.put(
        "/v1/settlement-tokens/USD/allowance", json={"amount": "1000000"}, headers=gw.auth("core")
    )
    assert allowed.status_code == 200, allowed.text
    note = gw.active("s1", "1000000")
    assert gw.post("operator", "/v1/dev/clock", {"seconds": 91 * 86_400}).status_code == 200
    sign_in(gw.client, gw.keys["core"])
    page = gw.client.get(f"/console/notes/{note}")
    assert "Pay this note (USD 10,000.00)" in page.text
    answer = gw.client.post(f"/console/notes/{note}/settle", data=form_tokens(page.text))
    assert answer.status_code == 200 and "The note is paid." in answer.text
    assert gw.get("s1", f"/v1/settlement-tokens/USD/accounts/{gw.ids['s1']}").json()["balance"] == "1000000"


def test_a_problem_about_a_field_the_form_lacks_is_still_shown() -> None:
    from starlette.requests import Request

    from service.console.web import render

    scope = {"type": "http", "method": "GET", "path": "/console/x", "headers": [], "query_string": b""}
    page = render(Request(scope), "error.html", None, title="t", errors={"payment_reference": "all zeros"})
    assert 'data-error-for="payment_reference">all zeros' in bytes(page.body).decode()


def test_a_suspended_member_keeps_only_its_notes_as_in_the_api(gw: Gateway) -> None:
    note = gw.active("s1")
    sign_in(gw.client, gw.keys["s1"])
    assert gw.post("operator", f"/v1/members/{gw.ids['s1']}/suspend").status_code == 200
    assert gw.client.get(f"/console/notes/{note}").status_code == 200
    refused = gw.client.get("/console/offers")
    assert refused.status_code == 403 and "suspended" in refused.text
