"""Property-based run over the gateway's own OpenAPI schema (schemathesis): for every operation,
generated requests sent with a valid API key never get a 5xx, and every 4xx is RFC 9457
problem+json with a `type`.

(schemathesis' pytest plugin does not work with pytest 9, so operations are driven directly.)"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.api.conftest import Gateway

PROBLEM_JSON = "application/problem+json"
EXAMPLES_PER_OPERATION = 5
NEVER_ENDING = {"/v1/events/stream"}


def check_operation(operation: Any, headers: dict[str, str], examples: int = EXAMPLES_PER_OPERATION) -> None:
    """Send `examples` generated requests of `operation` with `headers`: none gets a 5xx, every 4xx is
    problem+json with a `type`."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def check(case: Any) -> None:
        if case.query and "wait" in case.query:
            case.query["wait"] = (
                "0"  # a long poll holds its answer up to 30 s: its bounds have their own tests
            )
        response = case.call(headers=headers)
        where = (case.method, case.formatted_path, response.status_code, response.text)
        assert response.status_code < 500, where
        if response.status_code >= 400:
            content_type = response.headers.get("content-type", [""])[0]
            assert content_type.startswith(PROBLEM_JSON), where
            assert response.json()["type"].startswith("https://"), where

    check()


@pytest.mark.parametrize("who", ["operator", "core", "bank", "s1", "auditor"])
def test_generated_requests_get_no_5xx_and_problem_json_4xx(gw: Gateway, who: str) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", gw.client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 17
    # the event stream never ends by itself (tests/api/test_events_api.py drives it over a real socket)
    operations = [op for op in operations if op.path not in NEVER_ENDING]
    for operation in operations:
        check_operation(operation, gw.auth(who))
