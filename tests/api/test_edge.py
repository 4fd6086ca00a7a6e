"""The gateway's edge (issue 12): request body limits (size, JSON nesting), the catch-all 500,
validated ids, currencies and byte lengths, generic node and database errors, bounded caches and
rate limits. Every refusal is problem+json."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError
from sqlalchemy.exc import OperationalError

from service.api import app as app_module
from service.api.app import create_app
from service.api.cache.bounded import BoundedCache
from service.api.cache.members import MemberDirectory
from service.api.context import build_context
from service.api.edge import (
    SERVER_RECURSION_LIMIT,
    Cost,
    ErrorBarrier,
    RateLimitConfig,
    RateLimiter,
    client_address,
    nesting_exceeds,
    request_cost,
)
from service.api.params import iso_4217_codes
from service.api.problems import PROBLEM_JSON, RETRY_AFTER_SECONDS
from service.api.relay.schemas import MAX_CALLDATA_BYTES
from service.db.session import make_engine
from service.domain import MAX_AMOUNT, MAX_LEDGER_ID, MAX_SPLIT_PARTS
from service.ledger.chain import Chain
from service.ledger.errors import LedgerError, LedgerUnavailable
from service.settings import Settings, rate_limits
from service.setup.bootstrap import bootstrap_gateway
from tests.anvil import REPO_ROOT, free_port
from tests.api.conftest import Gateway, _Template, configured_gateway, settings_for
from tests.api.test_e2e_http import wait_until_answering
from tests.api.test_flow import problem
from tests.databases import TestDatabase

DEFAULT_MAX_BODY = Settings().max_body_bytes


def _raw_post(gw: Gateway, path: str, content: Any, who: str | None = "core", **headers: str) -> Any:
    if who is not None:
        headers = {**gw.auth(who), **headers}
    return gw.client.post(path, content=content, headers={"Content-Type": "application/json", **headers})


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# ------------------------------------------------------------------ body size
def test_a_declared_body_over_the_limit_is_413_before_authentication(gw: Gateway) -> None:
    body = b'{"x": "' + b"a" * DEFAULT_MAX_BODY + b'"}'
    for who in (None, "core"):
        answer = _raw_post(gw, "/v1/notes", body, who=who)
        problem(answer, 413, "body-too-large")
        assert answer.json()["max_body_bytes"] == DEFAULT_MAX_BODY
        assert answer.headers["x-request-id"]


def test_a_chunked_body_over_the_limit_is_413(gw: Gateway) -> None:
    chunk = b" " * 65_536

    def stream() -> Iterator[bytes]:
        for _ in range(DEFAULT_MAX_BODY // len(chunk) + 2):
            yield chunk

    answer = _raw_post(gw, "/v1/notes", stream())
    problem(answer, 413, "body-too-large")


def test_a_chunked_body_under_the_limit_reaches_the_route(gw: Gateway) -> None:
    body = json.dumps(gw.issue_body()).encode()

    def stream() -> Iterator[bytes]:
        yield body[:10]
        yield body[10:]

    answer = _raw_post(gw, "/v1/notes", stream())
    assert answer.status_code == 201, answer.text


def test_the_largest_legitimate_bodies_fit_the_default_limit_several_times(gw: Gateway) -> None:
    """A split into the maximum parts, each to a 0x address with the largest amount, and a relay
    request with the largest calldata the schema admits: the default limit holds each 3 times."""
    split = {"parts": [{"to": "0x" + "ab" * 20, "amount": str(MAX_AMOUNT)}] * MAX_SPLIT_PARTS}
    relay = {
        "request": {
            "from": "0x" + "ab" * 20,
            "to": "0x" + "cd" * 20,
            "value": "0",
            "gas": str(2**64),
            "nonce": str(2**64),
            "deadline": 2**48 - 1,
            "data": "0x" + "ff" * MAX_CALLDATA_BYTES,
        },
        "signature": "0x" + "11" * 65,
    }
    largest = max(len(json.dumps(split)), len(json.dumps(relay)))
    assert largest * 3 < DEFAULT_MAX_BODY, largest


def test_the_body_limit_is_a_setting(_template: _Template, tmp_path: Path) -> None:
    with configured_gateway(_template, tmp_path, max_body_bytes=2048) as gw:
        problem(_raw_post(gw, "/v1/notes", b"[" + b"1," * 1100 + b"1]"), 413, "body-too-large")
        problem(_raw_post(gw, "/v1/notes", b"[" + b"1," * 900 + b"1]"), 422, "invalid-request")


def test_an_invalid_content_length_is_400(gw: Gateway) -> None:
    scope_headers = [(b"content-length", b"-5")]
    statuses: list[int] = []
    content_types: list[str] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])
            content_types.extend(v.decode() for k, v in message["headers"] if k == b"content-type")

    import anyio

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/notes",
        "raw_path": b"/v1/notes",
        "query_string": b"",
        "headers": scope_headers,
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
        "root_path": "",
    }
    anyio.run(gw.client.app, scope, receive, send)  # type: ignore[arg-type]
    assert statuses == [400] and content_types[0].startswith(PROBLEM_JSON)


# ------------------------------------------------------------------ nesting depth
def test_nesting_is_counted_outside_strings_only() -> None:
    assert not nesting_exceeds(_nested(32), 32)
    assert nesting_exceeds(_nested(33), 32)
    assert nesting_exceeds(b'{"a": ' * 33 + b"1" + b"}" * 33, 32)
    inside = json.dumps({"reference": "[" * 1000, "escaped": '\\"[[[[' * 50}).encode()
    assert not nesting_exceeds(inside, 2)
    assert not nesting_exceeds(b"\xff\xfe[[\x00]]", 2)
    assert nesting_exceeds(b"[" * 200_000, 32)  # stops at the 33rd level


def test_a_body_nested_deeper_than_the_limit_is_400_before_authentication(gw: Gateway) -> None:
    for who in (None, "core"):
        for body in (_nested(33), _nested(5_000), b'{"parts": ' + _nested(40) + b"}"):
            answer = _raw_post(gw, "/v1/notes", body, who=who)
            problem(answer, 400, "body-too-deep")
            assert answer.json()["max_depth"] == 32


def test_a_body_nested_up_to_the_limit_reaches_validation(gw: Gateway) -> None:
    body = b'{"to": ' + _nested(31) + b"}"
    problem(_raw_post(gw, "/v1/notes", body), 422, "invalid-request")


def test_a_deep_body_without_a_json_content_type_is_refused_too(gw: Gateway) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        answer = _raw_post(gw, "/v1/notes", _nested(100), **{"Content-Type": content_type})
        problem(answer, 400, "body-too-deep")
    answer = gw.client.post("/v1/notes", content=_nested(100), headers=gw.auth("core"))
    problem(answer, 400, "body-too-deep")


RUN = [sys.executable, "-m", "service.cli", "run", "--no-seed"]


@pytest.fixture
def embedded_process(tmp_path: Path) -> Iterator[str]:
    """`credchain run` in embedded mode as a process of its own; its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDCHAIN_")}
    env.update(CREDCHAIN_DATABASE_URL=f"sqlite:///{tmp_path / 'gateway.sqlite'}", PYTHONPATH=str(REPO_ROOT))
    log_path = tmp_path / "gateway.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*RUN, "--port", str(port), "--credentials", str(tmp_path / "creds.json")],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(process, f"{base}/healthz", log_path, 90, pause=0.2)
        yield base
        assert process.poll() is None, f"the gateway died ({process.returncode}):\n{log_path.read_text()}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_a_100k_deep_body_does_not_kill_a_real_gateway(embedded_process: str) -> None:
    """The finding: 100,000 nested `[` sent to any JSON endpoint, without an API key, crashed
    the process with a segmentation fault."""
    body = _nested(100_000)
    host, port = embedded_process.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(
            b"POST /v1/notes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body
        )
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = conn.recv(65_536)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400"), answer
    assert b"application/problem+json" in answer and b"body-too-deep" in answer
    assert requests.get(f"{embedded_process}/healthz", timeout=10).status_code == 200


def test_worker_processes_restore_a_sane_recursion_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[Settings] = []
    monkeypatch.setattr(app_module, "build_context", lambda settings: built.append(settings))
    monkeypatch.setattr(app_module, "create_app", lambda context, **_: "app")
    monkeypatch.setattr(app_module, "configure_logging", lambda *_: None)
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)  # what importing py_ecc does
    try:
        assert app_module.worker_app() == "app"  # type: ignore[comparison-overlap]
        assert sys.getrecursionlimit() == SERVER_RECURSION_LIMIT
    finally:
        sys.setrecursionlimit(before)
    assert len(built) == 1


# ------------------------------------------------------------------ catch-all, ids, byte lengths
def test_an_unexpected_error_is_a_500_problem_logged_with_the_request_id(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_args: object, **_kwargs: object) -> object:
        raise RuntimeError("secret internals: /srv/credchain/db.py line 12")

    note_id = gw.active()
    monkeypatch.setattr(gw.context.members, "find", broken)
    with caplog.at_level(logging.ERROR, logger="credchain.api"):
        answer = gw.client.get(f"/v1/notes/{note_id}", headers={**gw.auth("s1"), "X-Request-ID": "req-500"})
    body = problem(answer, 500, "internal-error")
    assert "secret" not in answer.text and "RuntimeError" not in answer.text
    assert answer.headers["x-request-id"] == "req-500"
    logged = [r for r in caplog.records if getattr(r, "request_id", None) == "req-500"]
    assert logged and logged[0].exc_info is not None
    assert body["instance"] == f"/v1/notes/{note_id}"


@pytest.mark.parametrize(
    ("fault", "slug"),
    [
        (
            OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly")),
            "database-unavailable",
        ),
        (requests.ConnectionError("connection refused"), "ledger-unavailable"),
    ],
)
def test_a_fault_escaping_every_handler_is_still_its_503_problem(fault: Exception, slug: str) -> None:
    async def failing(scope: Any, receive: Any, send: Any) -> None:  # e.g. a middleware's own lookup
        raise fault

    answer = TestClient(ErrorBarrier(failing)).get("/v1/notes")
    assert answer.status_code == 503 and answer.headers["content-type"] == PROBLEM_JSON
    assert answer.json()["type"] == f"https://credchain.dev/errors/{slug}"
    assert answer.headers["retry-after"] == str(RETRY_AFTER_SECONDS)


@pytest.mark.parametrize("value", [str(2**63), str(2**63 + 5), "9" * 20, str(2**256), "-1", "1e3", "abc"])
def test_note_list_filters_out_of_range_are_422(gw: Gateway, value: str) -> None:
    for name in ("root", "cursor"):
        body = problem(gw.get("s1", "/v1/notes", **{name: value}), 422, "invalid-request")
        assert body["errors"][0]["field"] == f"query.{name}"


@pytest.mark.parametrize("value", [str(2**63), "9" * 19, str(2**256), "-1", "x"])
def test_offer_list_filters_out_of_range_are_422(gw: Gateway, value: str) -> None:
    for name in ("note", "cursor"):
        problem(gw.get("bank", "/v1/discount-offers", **{name: value}), 422, "invalid-request")


def test_the_largest_id_sql_holds_is_a_valid_filter(gw: Gateway) -> None:
    assert gw.get("s1", "/v1/notes", root=str(MAX_LEDGER_ID)).json() == {"items": [], "next_cursor": None}
    answer = gw.get("bank", "/v1/discount-offers", note=str(MAX_LEDGER_ID), cursor=str(MAX_LEDGER_ID))
    assert answer.status_code == 200 and answer.json()["items"] == []


def test_a_deposit_reference_of_32_characters_but_more_bytes_is_422(gw: Gateway) -> None:
    from service.api.tokens.service import setup_settlement_token

    setup_settlement_token(gw.context, "USD")
    for kind in ("deposits", "withdrawals"):
        for reference in ("é" * 32, "€" * 11, "😀" * 9):
            body = {"member": gw.ids["s1"], "amount": "100", "reference": reference}
            answer = gw.post("operator", f"/v1/settlement-tokens/USD/{kind}", body)
            problem(answer, 422, "invalid-request")
    ok = {"member": gw.ids["s1"], "amount": "100", "reference": "é" * 16}
    assert gw.post("operator", "/v1/settlement-tokens/USD/deposits", ok).status_code == 200


def test_a_freeze_reason_over_32_bytes_is_422_not_truncated(gw: Gateway) -> None:
    note_id = gw.active()
    problem(gw.post("operator", f"/v1/notes/{note_id}/freeze", {"reason": "é" * 17}), 422, "invalid-request")


# ------------------------------------------------------------------ node and database errors
NODE_TEXT = "HTTPConnectionPool(host='10.20.30.40', port=8545): Max retries exceeded with url: /rpc/s3cr3t"


def test_a_node_error_text_is_logged_not_answered(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for error, status, slug in (
        (LedgerUnavailable(NODE_TEXT), 503, "ledger-unavailable"),
        (LedgerError(NODE_TEXT), 502, "ledger-error"),
    ):

        def down(*_args: object, _error: Exception = error) -> object:
            raise _error

        monkeypatch.setattr(gw.context.ledger, "issue", down)
        with caplog.at_level(logging.WARNING, logger="credchain.api"):
            answer = gw.post("core", "/v1/notes", gw.issue_body())
        body = problem(answer, status, slug)
        assert "10.20.30.40" not in answer.text and "8545" not in answer.text and "s3cr3t" not in answer.text
        assert body["detail"]
        assert any("10.20.30.40" in r.getMessage() for r in caplog.records)
    assert answer.headers.get("retry-after") is None


def test_a_node_that_is_down_is_a_generic_503(_template: _Template, tmp_path: Path) -> None:
    """A gateway whose node port is closed: a read that asks the ledger, and a write whose first
    node request (the chain's time) is made outside the ledger client."""
    port = free_port()
    path = tmp_path / "gateway.sqlite"
    shutil.copyfile(_template.path, path)
    settings = _template.settings.model_copy(
        update={
            "database_url": f"sqlite:///{path}",
            "rpc_url": f"http://127.0.0.1:{port}/node/path",
            "master_secret": SecretStr("x" * 40),
        }
    )
    context = build_context(settings, engine=make_engine(settings.database_url))
    try:
        with TestClient(create_app(context, manage_indexer=False)) as client:
            auth = {"Authorization": f"Bearer {_template.keys['s1']}"}
            core = {"Authorization": f"Bearer {_template.keys['core']}"}
            issue = {
                "to": _template.ids["s1"],
                "amount": "100",
                "currency": "USD",
                "maturity": "2099-01-01T00:00:00Z",
                "document_hash": "0x" + "42" * 32,
            }
            answers = [
                client.get(f"/v1/settlement-tokens/USD/accounts/{_template.ids['s1']}", headers=auth),
                client.post("/v1/notes", json=issue, headers=core),
            ]
    finally:
        context.close()
    for answer in answers:
        body = problem(answer, 503, "ledger-unavailable")
        assert answer.headers["retry-after"]
        assert (
            str(port) not in answer.text
            and "/node/path" not in answer.text
            and "127.0.0.1" not in answer.text
        )
        assert body["detail"] == "the ledger node is unreachable; retry later"


def test_a_database_that_is_down_is_a_generic_503(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*_args: object, **_kwargs: object) -> object:
        raise OperationalError(
            "SELECT api_members.api_key_hash FROM api_members WHERE secret_column = %(x)s",
            {"x": "p4ssw0rd"},
            Exception('connection to server at "db.internal" (10.9.8.7), port 5432 failed'),
        )

    monkeypatch.setattr(gw.context, "session", down)
    monkeypatch.setattr(gw.context, "read", down)
    for answer in (gw.get("s1", "/v1/members"), gw.get("s1", "/v1/notes/4294967296")):
        problem(answer, 503, "database-unavailable")
        assert answer.headers["retry-after"]
        for leak in ("SELECT", "secret_column", "p4ssw0rd", "db.internal", "10.9.8.7"):
            assert leak not in answer.text


# ------------------------------------------------------------------ currencies and bounded caches
def test_many_distinct_currencies_neither_grow_the_token_cache_nor_answer_5xx(gw: Gateway) -> None:
    from service.api.tokens.service import setup_settlement_token

    setup_settlement_token(gw.context, "USD")
    cached = len(gw.context._tokens)
    member = gw.ids["s1"]
    codes = [f"USD{i}" for i in range(150)] + [f"usd{i}" for i in range(20)]
    codes += ["USDX", "US", "usd", "XYZ", "ZZZ", "%E2%82%AC", "U" * 500]
    codes += sorted(iso_4217_codes())[:60]  # real codes, no token registered: 409
    for code in codes:
        answer = gw.get("s1", f"/v1/settlement-tokens/{code}/accounts/{member}")
        assert answer.status_code in (404, 409, 422) or code == "USD", (code, answer.text)
        assert answer.headers["content-type"].startswith(PROBLEM_JSON), code
    assert len(gw.context._tokens) == cached
    assert gw.get("s1", f"/v1/settlement-tokens/USD/accounts/{member}").status_code == 200


@pytest.mark.parametrize("code", ["USDX", "ABC", "usd", "US"])
def test_a_currency_that_is_not_iso_4217_is_422_everywhere(gw: Gateway, code: str) -> None:
    problem(gw.post("core", "/v1/notes", gw.issue_body(currency=code)), 422, "invalid-request")
    problem(gw.post("operator", "/v1/settlement-tokens", {"currency": code}), 422, "invalid-request")
    body = {"member": gw.ids["s1"], "amount": "1", "reference": "r"}
    problem(gw.post("operator", f"/v1/settlement-tokens/{code}/deposits", body), 422, "invalid-request")
    allowance = gw.client.put(
        f"/v1/settlement-tokens/{code}/allowance", json={"amount": "1"}, headers=gw.auth("bank")
    )
    problem(allowance, 422, "invalid-request")


def test_the_context_caches_are_bounded() -> None:
    cache: BoundedCache[str, int] = BoundedCache(3)
    for i in range(10):
        cache[str(i)] = i
    assert len(cache) == 3 and cache.get("0") is None and cache.get("9") == 9

    class Rows:
        def __init__(self, rows: list[tuple[str, str, str]]) -> None:
            self.rows = rows

        def all(self) -> list[tuple[str, str, str]]:
            return self.rows

    class Session:
        def execute(self, _stmt: object) -> Rows:
            return Rows([(f"0x{i:040x}", f"m_{i}", f"member {i}") for i in range(50)])

    directory = MemberDirectory(size=10)
    directory.ids(Session(), [f"0x{i:040x}" for i in range(50)])  # type: ignore[arg-type]
    assert len(directory._refs) == 10


# ------------------------------------------------------------------ rate limits
def test_requests_are_classified_by_cost() -> None:
    assert request_cost("GET", "/healthz") is Cost.FREE
    assert request_cost("GET", "/metrics") is Cost.FREE
    assert request_cost("GET", "/v1/notes/42") is Cost.READ
    assert request_cost("GET", "/v1/notes/42/provenance") is Cost.EXPENSIVE
    assert request_cost("GET", "/v1/notes") is Cost.EXPENSIVE
    assert request_cost("GET", "/v1/notes/") is Cost.EXPENSIVE
    assert request_cost("GET", "/v1/risk/exposure") is Cost.EXPENSIVE
    assert request_cost("POST", "/v1/relay/prepare") is Cost.EXPENSIVE
    assert request_cost("POST", "/v1/relay") is Cost.WRITE
    assert request_cost("PUT", "/v1/settlement-tokens/USD/allowance") is Cost.WRITE


def test_rate_limit_settings_are_checked_when_read() -> None:
    assert rate_limits("0") == [] and rate_limits("") == []
    assert [str(i) for i in rate_limits("5/second; 100/hour")] == ["5 per 1 second", "100 per 1 hour"]
    for bad in ("often", "0/minute", "-1/minute"):
        with pytest.raises(ValidationError):
            Settings(rate_limit_writes=bad)


LIMITS = {
    "rate_limit_writes": "3/minute",
    "rate_limit_reads": "5/minute",
    "rate_limit_expensive": "2/minute",
    "rate_limit_unauthenticated": "4/minute",
}


@pytest.fixture
def limited(_template: _Template, tmp_path: Path) -> Iterator[Gateway]:
    with configured_gateway(_template, tmp_path, **LIMITS) as gw:
        yield gw


def _too_many(answer: Any) -> dict[str, Any]:
    body = problem(answer, 429, "rate-limited")
    assert 1 <= int(answer.headers["retry-after"]) <= 120
    assert answer.headers["ratelimit-remaining"] == "0"
    return body


def test_a_burst_of_writes_over_the_limit_is_429_and_another_key_is_unaffected(limited: Gateway) -> None:
    gw = limited
    # the key's first request makes it known (until then it counts only if answered 401), then 3
    statuses = [gw.post("core", "/v1/notes", {}).status_code for _ in range(4)]
    assert statuses == [422, 422, 422, 422]
    body = _too_many(gw.post("core", "/v1/notes", {}))
    assert body["limit"] == "3 per 1 minute"
    problem(gw.post("bank", "/v1/notes", {}), 403, "forbidden")  # another key: its own limit
    assert gw.get("core", "/v1/members/" + gw.ids["core"]).status_code == 200  # reads: their own


def test_expensive_reads_have_their_own_lower_limit(limited: Gateway) -> None:
    gw = limited
    note_id = gw.active()  # the key's writes: core 1, s1 1
    assert [gw.get("s1", "/v1/notes").status_code for _ in range(2)] == [200, 200]
    _too_many(gw.get("s1", "/v1/notes"))
    _too_many(gw.get("s1", f"/v1/notes/{note_id}/provenance"))
    _too_many(gw.get("s1", "/v1/risk/exposure"))
    assert gw.get("s1", f"/v1/notes/{note_id}").status_code == 200  # a plain read
    assert gw.get("auditor", "/v1/notes").status_code == 200
    assert gw.client.get("/healthz").status_code == 200  # outside /v1: never limited


def test_unknown_keys_from_one_address_are_limited_per_address(limited: Gateway) -> None:
    gw = limited
    assert gw.get("s1", "/v1/members").status_code == 200  # s1 has authenticated: known
    for i in range(4):
        gw.keys[f"guess{i}"] = f"cc_guess-{i}"
        problem(gw.get(f"guess{i}", "/v1/members"), 401, "unauthorized")
    gw.keys["guess"] = "cc_guess-next"
    _too_many(gw.get("guess", "/v1/members"))
    _too_many(gw.client.get("/v1/members"))  # no key at all: the same address
    assert gw.get("s1", "/v1/members").status_code == 200  # a known key is still served
    other = TestClient(gw.client.app, client=("203.0.113.9", 4000))
    problem(other.get("/v1/members", headers={"Authorization": "Bearer cc_guess-x"}), 401, "unauthorized")


def test_bodies_refused_before_authentication_count_against_the_address(limited: Gateway) -> None:
    gw = limited
    for _ in range(2):
        problem(_raw_post(gw, "/v1/notes", _nested(100), who=None), 400, "body-too-deep")
        problem(_raw_post(gw, "/v1/notes", b" " * (DEFAULT_MAX_BODY + 1), who=None), 413, "body-too-large")
    _too_many(_raw_post(gw, "/v1/notes", _nested(100), who=None))  # refused before its body is read


def test_made_up_keys_get_no_counters_of_their_own(limited: Gateway) -> None:
    gw = limited
    limiter = gw.context.rate_limiter
    for i in range(200):
        client = TestClient(gw.client.app, client=(f"198.51.100.{i % 3}", 1000))
        client.get("/v1/members", headers={"Authorization": f"Bearer cc_random-{i}"})
    assert limiter.tracked() <= 3 * 2  # the three addresses (current and previous window)
    assert len(limiter._known) == 0


def test_counters_of_many_addresses_are_bounded() -> None:
    config = RateLimitConfig(per_key={c: () for c in Cost}, unauthenticated=tuple(rate_limits("2/minute")))
    limiter = RateLimiter(config, max_counters=10)
    for i in range(100):
        address = limiter.address_id(f"10.0.0.{i}")
        limiter.hit(config.unauthenticated, "address", address)
    assert limiter.tracked() <= 11
    assert limiter.address_id("10.0.0.200") == "overflow"
    assert limiter.address_id("10.0.0.1") == "10.0.0.1"  # already counted: keeps its own


def test_zero_turns_a_limit_off(_template: _Template, tmp_path: Path) -> None:
    off = dict.fromkeys(LIMITS, "0")
    with configured_gateway(_template, tmp_path, **off) as gw:
        assert not gw.context.rate_limiter.config.enabled
        assert {gw.post("core", "/v1/notes", {}).status_code for _ in range(10)} == {422}


def test_the_default_limits_admit_a_busy_member(gw: Gateway) -> None:
    """50 writes and 100 expensive reads in a burst from one key (the heavy tests' load)."""
    assert {gw.post("core", "/v1/notes", {}).status_code for _ in range(50)} == {422}
    assert {gw.get("s1", "/v1/notes").status_code for _ in range(100)} == {200}


# ------------------------------------------------------------------ NUL characters
def test_a_nul_character_in_a_path_query_or_json_string_is_400(gw: Gateway) -> None:
    problem(gw.get("s1", "/v1/members/m_%00x"), 400, "nul-character")
    problem(gw.client.get("/v1/notes?holder=m_%00", headers=gw.auth("s1")), 400, "nul-character")
    body = b'{"name": "Acme\\u0000", "roles": ["supplier"]}'
    problem(_raw_post(gw, "/v1/members", body, who="operator"), 400, "nul-character")
    escaped = b'{"name": "C:\\\\u0000 Ltd", "roles": ["supplier"]}'  # a backslash, then "u0000"
    answer = _raw_post(gw, "/v1/members", escaped, who="operator")
    assert answer.status_code == 201, answer.text
    assert answer.json()["name"] == "C:\\u0000 Ltd"


@pytest.fixture
def snapshot_chain(_template: _Template) -> Iterator[Chain]:
    snapshot = _template.chain.snapshot()
    yield _template.chain
    _template.chain.revert(snapshot)


def test_a_nul_character_is_refused_the_same_on_each_database(
    empty_db: TestDatabase, snapshot_chain: Chain
) -> None:
    """PostgreSQL text cannot hold NUL: a name, a party or a reference with one failed the
    statement (a 500) where SQLite stored it."""
    settings = settings_for(empty_db.url, database_schema=empty_db.schema)
    settings, operator_key = bootstrap_gateway(settings, snapshot_chain, None)
    context = build_context(settings, chain=snapshot_chain, engine=empty_db.engine)
    auth = {"Authorization": f"Bearer {operator_key}", "Content-Type": "application/json"}
    with TestClient(create_app(context)) as client:
        for path, body in (
            ("/v1/members", b'{"name": "a\\u0000b", "roles": ["supplier"]}'),
            ("/v1/credit-limits", b'{"obligor": "m_\\u0000", "amount": "1"}'),
        ):
            problem(client.post(path, content=body, headers=auth), 400, "nul-character")
        problem(client.get("/v1/members/m_%00", headers=auth), 400, "nul-character")


def test_credchain_run_restores_a_sane_recursion_limit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from service import cli

    class Context:
        settings = Settings(contract_address="0x" + "12" * 20)

        def close(self) -> None:
            pass

        def relayer(self) -> None:
            return None

    seen: list[int] = []
    monkeypatch.setattr(cli, "embedded_gateway", lambda *_args, **_kwargs: (Context(), "cc_key", None))
    monkeypatch.setattr(cli, "create_app", lambda context, **_kwargs: "app")
    monkeypatch.setattr(cli.uvicorn, "run", lambda *_args, **_kwargs: seen.append(sys.getrecursionlimit()))
    monkeypatch.setattr(cli, "_logging", lambda *_args: None)
    monkeypatch.setenv("CREDCHAIN_DATABASE_URL", f"sqlite:///{tmp_path / 'x.sqlite'}")
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)  # what importing py_ecc does
    try:
        result = CliRunner().invoke(cli.app, ["run", "--no-seed", "--port", "0"])
    finally:
        sys.setrecursionlimit(before)
    assert result.exit_code == 0, result.output
    assert seen == [SERVER_RECURSION_LIMIT]


def test_ipv6_clients_are_counted_by_their_64_network() -> None:
    assert client_address({"client": ("2001:db8:1:2::5", 1)}) == "2001:db8:1:2::/64"
    assert client_address({"client": ("2001:db8:1:2:aaaa::9", 1)}) == "2001:db8:1:2::/64"
    assert client_address({"client": ("::1", 1)}) == "::/64"
    assert client_address({"client": ("127.0.0.1", 1)}) == "127.0.0.1"
