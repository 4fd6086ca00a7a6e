"""Webhook subscriptions over TestClient: creating one (the secret shown once, not kept in the
idempotency journal), pausing and resuming, replaying from a sequence number, the delivery log,
another member's subscription (the 404 page) and forms without the CSRF token (refused)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from service.db.gateway_models import IdempotencyRecord
from tests.api.conftest import Gateway
from tests.console.helpers import form_tokens, sign_in

HOOK = "http://127.0.0.1:9/hook"


def create(client: TestClient, **fields: str | list[str]) -> tuple[str, str | None]:
    """A subscription made through the form: its id and the secret its answer page shows."""
    page = client.get("/console/subscriptions")
    answer = client.post("/console/subscriptions", data={**form_tokens(page.text), "url": HOOK, **fields})
    assert answer.status_code == 201, answer.text
    found = re.search(r'href="/console/subscriptions/(\d+)"', answer.text)
    assert found is not None
    secret = re.search(r'data-testid="subscription-secret">([^<]+)<', answer.text)
    return found.group(1), secret.group(1) if secret else None


def test_creating_shows_the_signing_secret_once(gw: Gateway) -> None:
    sign_in(gw.client, gw.keys["s1"])
    subscription, secret = create(gw.client, event_types=["note.issued", "note.accepted"])
    assert secret is not None and secret.startswith("whsec_")
    api = gw.get("s1", f"/v1/subscriptions/{subscription}").json()
    assert api["url"] == HOOK and api["event_types"] == ["note.accepted", "note.issued"]
    assert secret not in gw.client.get(f"/console/subscriptions/{subscription}").text


def test_the_secret_is_not_kept_in_the_idempotency_journal(gw: Gateway) -> None:
    sign_in(gw.client, gw.keys["s1"])
    _subscription, secret = create(gw.client)
    assert secret is not None
    with gw.context.session() as session:
        records = session.scalars(select(IdempotencyRecord)).all()
    assert records and all(secret not in str(vars(r)) for r in records)


def test_a_double_submission_creates_one_subscription(gw: Gateway) -> None:
    sign_in(gw.client, gw.keys["s1"])
    page = gw.client.get("/console/subscriptions")
    data = {**form_tokens(page.text), "url": HOOK}
    first = gw.client.post("/console/subscriptions", data=data)
    second = gw.client.post("/console/subscriptions", data=data)
    assert first.status_code == second.status_code == 201
    assert 'data-testid="subscription-secret"' not in second.text
    assert len(gw.get("s1", "/v1/subscriptions").json()["items"]) == 1


def test_a_bad_url_is_shown_beside_its_field(gw: Gateway) -> None:
    sign_in(gw.client, gw.keys["s1"])
    page = gw.client.get("/console/subscriptions")
    answer = gw.client.post("/console/subscriptions", data={**form_tokens(page.text), "url": "ftp://x"})
    assert answer.status_code >= 400
    assert 'data-error-for="url"' in answer.text
    assert gw.get("s1", "/v1/subscriptions").json()["items"] == []


def test_pause_then_resume(gw: Gateway) -> None:
    sign_in(gw.client, gw.keys["s1"])
    subscription, _secret = create(gw.client)
    for action, status in (("pause", "paused"), ("resume", "active")):
        page = gw.client.get(f"/console/subscriptions/{subscription}")
        answer = gw.client.post(
            f"/console/subscriptions/{subscription}/{action}",
            data=form_tokens(page.text),
            follow_redirects=False,
        )
        assert answer.status_code == 303, answer.text
        assert gw.get("s1", f"/v1/subscriptions/{subscription}").json()["status"] == status


def test_replay_moves_the_cursor_back_to_the_sequence_number(gw: Gateway) -> None:
    gw.active("s1")  # a few events before the subscription
    sign_in(gw.client, gw.keys["s1"])
    subscription, _secret = create(gw.client)
    page = gw.client.get(f"/console/subscriptions/{subscription}")
    tokens = re.findall(r'name="idempotency_key" value="([^"]+)"', page.text)
    data = {**form_tokens(page.text), "idempotency_key": tokens[-1], "from_seq": "1"}
    answer = gw.client.post(
        f"/console/subscriptions/{subscription}/replay", data=data, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    assert gw.get("s1", f"/v1/subscriptions/{subscription}").json()["cursor"] == 0


def test_a_replay_ahead_of_the_cursor_is_shown_beside_the_field(gw: Gateway) -> None:
    sign_in(gw.client, gw.keys["s1"])
    subscription, _secret = create(gw.client)
    page = gw.client.get(f"/console/subscriptions/{subscription}")
    data = {**form_tokens(page.text), "from_seq": "999999"}
    answer = gw.client.post(f"/console/subscriptions/{subscription}/replay", data=data)
    assert answer.status_code == 409
    assert 'data-error-for="from_seq"' in answer.text


def test_the_delivery_log_is_on_the_subscriptions_page(gw: Gateway) -> None:
    sign_in(gw.client, gw.keys["s1"])
    subscription, _secret = create(gw.client)
    page = gw.client.get(f"/console/subscriptions/{subscription}")
    assert page.status_code == 200 and 'data-testid="deliveries"' in page.text


def test_another_members_subscription_is_the_404_page(gw: Gateway) -> None:
    sign_in(gw.client, gw.keys["s1"])
    subscription, _secret = create(gw.client)
    other = TestClient(gw.client.app)
    sign_in(other, gw.keys["s2"])
    assert other.get(f"/console/subscriptions/{subscription}").status_code == 404
    page = other.get("/console/subscriptions")
    assert f'data-subscription="{subscription}"' not in page.text
    answer = other.post(f"/console/subscriptions/{subscription}/pause", data=form_tokens(page.text))
    assert answer.status_code == 404
    assert gw.get("s1", f"/v1/subscriptions/{subscription}").json()["status"] == "active"


def test_pausing_without_the_csrf_token_is_refused(gw: Gateway) -> None:
    sign_in(gw.client, gw.keys["s1"])
    subscription, _secret = create(gw.client)
    answer = gw.client.post(f"/console/subscriptions/{subscription}/pause", data={"idempotency_key": "k"})
    assert answer.status_code == 403
    assert gw.get("s1", f"/v1/subscriptions/{subscription}").json()["status"] == "active"
