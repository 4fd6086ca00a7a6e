"""Request ids and one structured access log line per request."""

from __future__ import annotations

import io
import json
import logging

import pytest

from service.logging_setup import JsonFormatter, configure_logging
from tests.api.conftest import Gateway


def _access(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "credchain.access"]


def test_a_given_request_id_is_echoed_and_logged_with_the_member(
    gw: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="credchain.access")
    answer = gw.client.get("/v1/members", headers={**gw.auth("core"), "X-Request-ID": "req-42"})
    assert answer.status_code == 200
    assert answer.headers["x-request-id"] == "req-42"
    (record,) = _access(caplog)
    fields = vars(record)
    assert fields["request_id"] == "req-42"
    assert fields["method"] == "GET"
    assert fields["route"] == "/v1/members"
    assert fields["status"] == 200
    assert fields["member_id"] == gw.ids["core"]
    assert fields["duration_ms"] >= 0
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "req-42" and line["member_id"] == gw.ids["core"]
    assert line["logger"] == "credchain.access" and line["level"] == "INFO"


def test_a_request_id_is_generated_when_missing_or_malformed(
    gw: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="credchain.access")
    first = gw.client.get("/healthz")
    second = gw.client.get("/healthz", headers={"X-Request-ID": "bad id with spaces\n"})
    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert all(len(i) == 32 for i in ids) and ids[0] != ids[1]
    records = _access(caplog)
    assert [r.request_id for r in records] == ids  # type: ignore[attr-defined]
    assert all(not hasattr(r, "member_id") for r in records)


def test_errors_are_logged_with_their_status_and_the_id_is_echoed(
    gw: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="credchain.access")
    answer = gw.client.get("/v1/notes/999999", headers={**gw.auth("s1"), "X-Request-ID": "r-404"})
    assert answer.status_code == 404
    assert answer.headers["x-request-id"] == "r-404"
    unauthenticated = gw.client.get("/v1/members")
    assert unauthenticated.status_code == 401
    first, second = _access(caplog)
    assert (first.status, first.route, first.member_id) == (404, "/v1/notes/{note_id}", gw.ids["s1"])  # type: ignore[attr-defined]
    assert second.status == 401 and not hasattr(second, "member_id")  # type: ignore[attr-defined]


def test_configure_logging_writes_json_lines() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("INFO", "json", stream)
        logging.getLogger("credchain.test").info("hello %s", "world", extra={"request_id": "x1"})
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    line = json.loads(stream.getvalue().strip())
    assert line["message"] == "hello world" and line["request_id"] == "x1"
