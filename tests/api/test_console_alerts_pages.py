"""The alerts inbox over TestClient: the member's alerts only (another's: the 404 page), what
triggered one, acknowledging it through the console's form (CSRF, Idempotency-Key)."""

from __future__ import annotations

import re
from typing import Any

from service.alerts.rules import RULES
from service.alerts.scheduler import evaluate_now
from service.console.alerts.figures import readable
from service.console.i18n import Translator
from service.console.messages import EN, ZH
from tests.api.conftest import Gateway
from tests.console.helpers import form_tokens, sign_in

DAY = 86_400


def shortfall_alert(gw: Gateway) -> dict[str, Any]:
    """A funding-shortfall alert on `core`: a note 5 days from maturity, no settlement tokens."""
    answer = gw.post("core", "/v1/notes", gw.issue_body("s1", "1000000", maturity=gw.maturity(5)))
    assert answer.status_code == 201, answer.text
    note = answer.json()["note_ids"][0]
    assert gw.post("s1", f"/v1/notes/{note}/accept").status_code == 200
    evaluate_now(gw.context)
    items = gw.get("operator", "/v1/alerts", rule="funding_shortfall").json()["items"]
    assert items, "no funding-shortfall alert"
    alert: dict[str, Any] = items[0]
    return alert


def owner_of(gw: Gateway, alert: dict[str, Any]) -> str:
    return (
        next(name for name, address in gw.addresses.items() if address == alert["owner"])
        if alert["owner"]
        else "operator"
    )


def test_the_inbox_lists_the_members_open_alerts(gw: Gateway) -> None:
    alert = shortfall_alert(gw)
    sign_in(gw.client, gw.keys[owner_of(gw, alert)])
    page = gw.client.get("/console/alerts")
    assert page.status_code == 200
    assert f'data-alert="{alert["id"]}"' in page.text


def test_an_alert_page_shows_the_figures_that_triggered_it(gw: Gateway) -> None:
    alert = shortfall_alert(gw)
    sign_in(gw.client, gw.keys[owner_of(gw, alert)])
    page = gw.client.get(f"/console/alerts/{alert['id']}")
    assert page.status_code == 200
    figures = dict(re.findall(r'<tr><th scope="row">([^<]+)</th><td>([^<]*)</td></tr>', page.text))
    assert figures["Shortfall"] == "USD 10,000.00" and figures["Due"] == "USD 10,000.00"
    assert figures["Currency"] == "USD" and figures["Notes"] == "1"


def test_acknowledging_through_the_console_acknowledges_the_alert(gw: Gateway) -> None:
    alert = shortfall_alert(gw)
    who = owner_of(gw, alert)
    sign_in(gw.client, gw.keys[who])
    page = gw.client.get(f"/console/alerts/{alert['id']}")
    answer = gw.client.post(
        f"/console/alerts/{alert['id']}/acknowledge", data=form_tokens(page.text), follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    assert gw.get(who, f"/v1/alerts/{alert['id']}").json()["status"] == "acknowledged"
    assert 'data-testid="alert-status">acknowledged' in gw.client.get(answer.headers["location"]).text


def test_acknowledging_without_the_csrf_token_is_refused(gw: Gateway) -> None:
    alert = shortfall_alert(gw)
    who = owner_of(gw, alert)
    sign_in(gw.client, gw.keys[who])
    answer = gw.client.post(f"/console/alerts/{alert['id']}/acknowledge", data={"idempotency_key": "k"})
    assert answer.status_code == 403
    assert gw.get(who, f"/v1/alerts/{alert['id']}").json()["status"] == "open"


def test_another_members_alert_is_the_404_page(gw: Gateway) -> None:
    alert = shortfall_alert(gw)
    sign_in(gw.client, gw.keys["s2"])
    assert gw.client.get(f"/console/alerts/{alert['id']}").status_code == 404
    assert f'data-alert="{alert["id"]}"' not in gw.client.get("/console/alerts").text


def test_an_alert_id_that_is_not_one_is_the_404_page(gw: Gateway) -> None:
    sign_in(gw.client, gw.keys["s1"])
    assert gw.client.get("/console/alerts/abc").status_code == 404


def test_every_alert_rule_has_a_readable_name_in_each_language() -> None:
    assert [rule for rule in RULES if f"alert_rule_{rule}" not in EN or f"alert_rule_{rule}" not in ZH] == []


def test_figures_read_in_major_units_percentages_and_dates() -> None:
    t = Translator("en")
    figures = {"credit_limit": "123456", "utilisation_bps": 9050, "maturity": 86_400, "odd": [1, 2]}
    assert readable(t, figures) == [
        ("Credit limit", "USD 1,234.56"),
        ("Utilisation", "90.50 %"),
        ("Maturity", "1970-01-02"),
        ("odd", "1, 2"),
    ]
