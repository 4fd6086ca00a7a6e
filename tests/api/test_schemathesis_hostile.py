"""Hostile inputs against every operation of the gateway's OpenAPI schema (the operations found by
schemathesis, as in test_schemathesis.py): huge, deep and odd bodies, ids out of every range, very
long and non-UTF-8 paths, odd content types. None gets a 5xx; every 4xx is problem+json with a
`type`. (In-process nesting stays moderate: the 100,000-deep body is sent to a real gateway process
in test_edge.py.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis

from service.settings import Settings
from tests.api.conftest import NO_RATE_LIMITS, Gateway, _Template, configured_gateway
from tests.api.test_schemathesis import NEVER_ENDING

PROBLEM_JSON = "application/problem+json"


@pytest.fixture
def gw(_template: _Template, tmp_path: Path) -> Iterator[Gateway]:
    """The usual gateway without rate limits: these tests send hundreds of writes a minute."""
    with configured_gateway(_template, tmp_path, **NO_RATE_LIMITS) as gateway:
        yield gateway


LIMITS = Settings()
HOSTILE_IDS = [
    str(2**63 - 1),
    str(2**63),
    str(2**64),
    str(2**256),
    str(2**256 + 1),
    "-1",
    "0",
    "00000000000000000000000001",
    "1e3",
    "0x10",
    "abc",
    " 1",
    "%F0%9F%98%80",  # an emoji, percent-encoded
    "%FF%FE",  # not UTF-8 once decoded
    "%00",
    "9" * 3000,  # a very long path
]


def _operations(gw: Gateway) -> list[tuple[str, str, list[str], bool]]:
    """(method, path template, path parameter names, takes a body) of every operation."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", gw.client.app)
    found = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in NEVER_ENDING:  # the event stream answers forever (its own tests)
            continue
        names = re.findall(r"{([^}]+)}", operation.path)
        found.append((operation.method.upper(), operation.path, names, operation.body is not None))
    assert len(found) >= 17
    return found


def _check(answer: Any, where: object) -> None:
    assert answer.status_code < 500, (where, answer.status_code, answer.text[:500])
    if answer.status_code >= 400:
        assert answer.headers["content-type"].startswith(PROBLEM_JSON), (where, answer.headers)
        assert answer.json()["type"].startswith("https://"), where


def _path(template: str, names: list[str], value: str) -> str:
    path = template
    for name in names:
        path = path.replace("{" + name + "}", value)
    return path


def _concrete(gw: Gateway, template: str, names: list[str]) -> str:
    """The path with plausible values (a member id, a currency, a note id)."""
    values = {"member_id": gw.ids["s1"], "currency": "USD"}
    path = template
    for name in names:
        path = path.replace("{" + name + "}", values.get(name, "4294967296"))
    return path


@pytest.mark.parametrize("who", ["operator", "s1"])
def test_hostile_ids_in_paths_get_no_5xx(gw: Gateway, who: str) -> None:
    for method, template, names, has_body in _operations(gw):
        if not names:
            continue
        for value in HOSTILE_IDS:
            path = _path(template, names, value)
            answer = gw.client.request(method, path, json={} if has_body else None, headers=gw.auth(who))
            _check(answer, (method, path[:120]))


LIST_FILTERS = {
    "/v1/notes": ["root", "cursor", "limit", "holder", "obligor", "status"],
    "/v1/discount-offers": ["note", "cursor", "limit", "financier", "status", "basis"],
    "/v1/quotes/discount": ["note", "rate", "price", "basis"],
    "/v1/risk/exposure": ["format"],
}


def test_hostile_values_in_query_filters_get_no_5xx(gw: Gateway) -> None:
    for path, names in LIST_FILTERS.items():
        for name in names:
            for value in [*HOSTILE_IDS, "", "null", "[]", "x" * 5000]:
                answer = gw.client.get(
                    path + f"?{name}={value}" + ("&rate=0.05" if name == "note" else ""),
                    headers=gw.auth("auditor"),
                )
                _check(answer, (path, name, value[:40]))


def _nested(depth: int) -> bytes:
    return b'{"to": ' + b"[" * depth + b"]" * depth + b"}"


def _chunks(size: int) -> Iterator[bytes]:
    chunk = b" " * 32_768
    for _ in range(size // len(chunk) + 1):
        yield chunk


HOSTILE_BODIES: list[tuple[str, bytes, dict[str, str]]] = [
    ("deep, under the limit", _nested(LIMITS.max_json_depth - 2), {}),
    ("deep, just over the limit", _nested(LIMITS.max_json_depth), {}),
    ("deep, 2000 levels", _nested(2000), {}),
    ("deep objects", b'{"a": ' * 40 + b"1" + b"}" * 40, {}),
    ("over the size limit", b'{"to": "' + b"x" * LIMITS.max_body_bytes + b'"}', {}),
    ("not UTF-8", b'{"to": "\xff\xfe\xfd"}', {}),
    ("not UTF-8 at all", b"\xff\xfe\x00\x01" * 100, {}),
    ("truncated", b'{"to": "abc', {}),
    ("brackets in strings", b'{"to": "' + b"[" * 5000 + b'"}', {}),
    ("a huge integer", b'{"amount": 1' + b"0" * 5000 + b"}", {}),
    ("a huge exponent", b'{"amount": 1e999999}', {}),
    ("NaN", b'{"amount": NaN, "seconds": Infinity}', {}),
    ("a long digit string", b'{"amount": "' + b"9" * 100_000 + b'"}', {}),
    ("null", b"null", {}),
    ("an array", b"[1, 2, 3]", {}),
    ("a bare string", b'"text"', {}),
    ("empty", b"", {}),
    ("a NUL in a string", b'{"name": "a\\u0000b", "reference": "\\u0000", "roles": ["supplier"]}', {}),
    ("lone surrogates", b'{"name": "\\ud800", "reference": "\\udfff", "roles": ["supplier"]}', {}),
    ("text/plain", b'{"to": "x"}', {"Content-Type": "text/plain"}),
    ("xml", b"<to>x</to>", {"Content-Type": "application/xml"}),
    ("a form", b"to=x&amount=1", {"Content-Type": "application/x-www-form-urlencoded"}),
    ("multipart", b"--b\r\n\r\nx\r\n--b--", {"Content-Type": "multipart/form-data; boundary=b"}),
    ("a JSON charset", b'{"to": "x"}', {"Content-Type": "application/json; charset=latin-1"}),
    ("a +json type", b'{"to": "x"}', {"Content-Type": "application/vnd.x+json"}),
    ("a malformed content type", b'{"to": "x"}', {"Content-Type": ";;;/"}),
]


@pytest.mark.parametrize("who", ["operator", "core", "bank"])
def test_hostile_bodies_get_no_5xx(gw: Gateway, who: str) -> None:
    operations = [op for op in _operations(gw) if op[3]]
    assert len(operations) >= 10
    for method, template, names, _ in operations:
        path = _concrete(gw, template, names)
        for label, body, headers in HOSTILE_BODIES:
            answer = gw.client.request(
                method,
                path,
                content=body,
                headers={"Content-Type": "application/json", **headers, **gw.auth(who)},
            )
            _check(answer, (method, path, label))
        streamed = gw.client.request(
            method,
            path,
            content=_chunks(LIMITS.max_body_bytes),
            headers={"Content-Type": "application/json", **gw.auth(who)},
        )
        assert streamed.status_code == 413, (method, path, streamed.text)
        _check(streamed, (method, path, "chunked over the limit"))


def test_hostile_bodies_without_an_api_key_get_no_5xx(gw: Gateway) -> None:
    for method, template, names, has_body in _operations(gw):
        if not has_body:
            continue
        path = _concrete(gw, template, names)
        for label, body, headers in HOSTILE_BODIES[:8]:
            answer = gw.client.request(
                method, path, content=body, headers={"Content-Type": "application/json", **headers}
            )
            _check(answer, (method, path, label))
