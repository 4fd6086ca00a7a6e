"""Signing in to the console through its own form (the CSRF token read from the page, as a browser
would), and reading a page's tokens."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
IDEMPOTENCY = re.compile(r'name="idempotency_key" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, "no CSRF token in the page"
    return found.group(1)


def form_tokens(html: str) -> dict[str, str]:
    """The hidden fields of the first write form of a page."""
    key = IDEMPOTENCY.search(html)
    assert key is not None, "no Idempotency-Key in the page"
    return {"csrf_token": csrf_of(html), "idempotency_key": key.group(1)}


def sign_in(client: TestClient, api_key: str) -> None:
    """Sign `client` in with `api_key` (its cookie jar keeps the session)."""
    page = client.get("/console/sign-in")
    answer = client.post(
        "/console/sign-in",
        data={"csrf_token": csrf_of(page.text), "api_key": api_key, "next": "/console/"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    assert "cc_session" in client.cookies
