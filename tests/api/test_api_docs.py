"""The OpenAPI document and the documentation pages: the bearer scheme, every error answer as
problem+json with the catalogue of problem types, realistic request examples, and /docs and /redoc
served with their assets from the gateway (no CDN, no Google fonts)."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from service.api.financing.schemas import CreditLimitSet, CreditRelationshipCreate, DiscountOfferIn
from service.api.members.schemas import MemberCreate
from service.api.notes.schemas import NoteIssue, NoteSplitIn, NoteTransfer
from service.api.problems import ERRORS_BASE, PROBLEM_JSON, REVERT_PROBLEMS
from service.api.tokens.schemas import TokenMovement, TokenRegister
from tests.anvil import REPO_ROOT
from tests.api.conftest import Gateway

PROBLEM_REF = "#/components/schemas/Problem"
EXTERNAL_URL = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.I)


def _document(gw: Gateway) -> dict[str, Any]:
    answer = gw.client.get("/openapi.json")
    assert answer.status_code == 200
    document: dict[str, Any] = answer.json()
    return document


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _raised_slugs() -> set[str]:
    """Every problem type slug the service's code passes to `ProblemError` as a literal."""
    slugs = set()
    for path in (REPO_ROOT / "service").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "ProblemError"
                and len(node.args) > 1
                and isinstance(node.args[1], ast.Constant)
            ):
                slugs.add(str(node.args[1].value))
    return slugs


def test_the_document_declares_bearer_authentication_on_authenticated_operations(gw: Gateway) -> None:
    document = _document(gw)
    assert document["components"]["securitySchemes"]["apiKey"]["type"] == "http"
    assert document["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    assert document["paths"]["/v1/notes"]["post"]["security"] == [{"apiKey": []}]
    assert document["paths"]["/v1/notes/{note_id}"]["get"]["security"] == [{"apiKey": []}]
    assert "security" not in document["paths"]["/healthz"]["get"]


def test_authenticated_operations_no_longer_list_authorization_as_a_parameter(gw: Gateway) -> None:
    for method, path, operation in _operations(_document(gw)):
        names = {p["name"].lower() for p in operation.get("parameters", [])}
        assert "authorization" not in names, (method, path)


def test_a_request_without_a_key_is_still_the_gateways_401_problem(gw: Gateway) -> None:
    answer = gw.client.get("/v1/notes", headers={"Authorization": "Basic abc"})
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith(PROBLEM_JSON)
    assert answer.headers["www-authenticate"] == "Bearer"
    assert answer.json()["detail"] == "the Authorization header must be Bearer <api key>"


def test_the_problem_schema_is_a_component(gw: Gateway) -> None:
    problem = _document(gw)["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "instance", "errors", "tx_hashes"} <= set(
        problem["properties"]
    )
    assert set(problem["required"]) == {"type", "title", "status"}
    assert "x-problem-types" in problem["description"]


def test_fastapis_own_validation_error_schema_is_gone(gw: Gateway) -> None:
    schemas = _document(gw)["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas


def test_every_operation_documents_its_error_answers_as_problem_json(gw: Gateway) -> None:
    document = _document(gw)
    for method, path, operation in _operations(document):
        statuses = {int(status) for status in operation["responses"] if int(status) >= 400}
        expected = {400, 422, 429, 500, 503}
        if operation.get("security"):
            expected |= {401, 403}
        if "{" in path:
            expected.add(404)
        if method != "get":
            expected |= {409, 413}
        assert expected <= statuses, (method, path, sorted(statuses))
        for status in statuses:
            response = _resolve(document, operation["responses"][str(status)])
            assert list(response["content"]) == [PROBLEM_JSON], (method, path, status)
            assert response["content"][PROBLEM_JSON]["schema"] == {"$ref": PROBLEM_REF}


@pytest.mark.parametrize("status", [429, 503])
def test_retryable_error_answers_document_retry_after(gw: Gateway, status: int) -> None:
    document = _document(gw)
    response = _resolve(document, document["paths"]["/v1/notes"]["post"]["responses"][str(status)])
    assert "Retry-After" in response["headers"]


def test_the_catalogue_lists_every_problem_type_the_code_raises(gw: Gateway) -> None:
    document = _document(gw)
    catalogued = {entry["type"].removeprefix(ERRORS_BASE) for entry in document["x-problem-types"]}
    raised = _raised_slugs() | {slug for slug, _status in REVERT_PROBLEMS.values()}
    assert len(raised) > 60
    assert raised <= catalogued, sorted(raised - catalogued)


def test_the_description_shows_every_catalogued_type_with_its_title(gw: Gateway) -> None:
    document = _document(gw)
    description = document["info"]["description"]
    for entry in document["x-problem-types"]:
        slug = entry["type"].removeprefix(ERRORS_BASE)
        assert f"| {entry['status']} | `{slug}` | {entry['title']} |" in description


def test_contract_errors_in_the_catalogue_name_their_ledger_error(gw: Gateway) -> None:
    types = {entry["type"]: entry for entry in _document(gw)["x-problem-types"]}
    limit = types[ERRORS_BASE + "insufficient-credit-limit"]
    assert limit["status"] == 409 and limit["ledger_errors"] == ["CreditLimitExceeded"]
    assert types[ERRORS_BASE + "forwarder-misconfigured"]["ledger_errors"] == [
        "InvalidShortString",
        "StringTooLong",
    ]


REQUEST_MODELS: list[type[BaseModel]] = [
    NoteIssue,
    NoteTransfer,
    NoteSplitIn,
    DiscountOfferIn,
    CreditLimitSet,
    CreditRelationshipCreate,
    TokenRegister,
    TokenMovement,
    MemberCreate,
]


@pytest.mark.parametrize("model", REQUEST_MODELS, ids=lambda m: m.__name__)
def test_every_request_example_is_a_valid_request(model: type[BaseModel]) -> None:
    (example,) = model.model_json_schema()["examples"]
    model.model_validate(example)


def test_the_issue_example_is_realistic(gw: Gateway) -> None:
    schema = _document(gw)["components"]["schemas"]["NoteIssue"]
    (example,) = schema["examples"]
    assert example["currency"] == "USD"
    assert isinstance(example["amount"], str) and example["amount"].isdigit()
    assert datetime.fromisoformat(example["maturity"]) > datetime.now(UTC)
    assert re.fullmatch(r"0x[0-9a-f]{64}", example["document_hash"])
    assert re.fullmatch(r"m_[0-9a-f]{10}", example["to"])


def test_the_issue_example_is_accepted_by_the_gateway(gw: Gateway) -> None:
    (example,) = _document(gw)["components"]["schemas"]["NoteIssue"]["examples"]
    answer = gw.post("core", "/v1/notes", {**example, "to": gw.ids["s1"]})
    assert answer.status_code == 201, answer.text
    note = gw.get("s1", f"/v1/notes/{answer.json()['note_ids'][0]}").json()
    assert (note["amount"], note["currency"]) == (example["amount"], "USD")


def test_the_offer_example_deadline_is_in_the_future(gw: Gateway) -> None:
    (example,) = _document(gw)["components"]["schemas"]["DiscountOfferIn"]["examples"]
    assert datetime.fromisoformat(example["deadline"]) > datetime.now(UTC)


@pytest.mark.parametrize(
    ("page", "script"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")]
)
def test_the_docs_pages_load_their_script_from_the_gateway(gw: Gateway, page: str, script: str) -> None:
    answer = gw.client.get(page)
    assert answer.status_code == 200
    assert f'src="/docs/assets/{script}"' in answer.text
    assert not EXTERNAL_URL.search(answer.text), answer.text
    assert "fonts.googleapis" not in answer.text


@pytest.mark.parametrize(
    "asset", ["swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png"]
)
def test_the_gateway_serves_the_docs_assets(gw: Gateway, asset: str) -> None:
    answer = gw.client.get(f"/docs/assets/{asset}")
    assert answer.status_code == 200
    assert len(answer.content) > 1000


def test_an_unknown_docs_asset_is_a_404(gw: Gateway) -> None:
    assert gw.client.get("/docs/assets/nope.js").status_code == 404


def test_swagger_ui_asks_no_online_validator(gw: Gateway) -> None:
    assert '"validatorUrl": null' in gw.client.get("/docs").text


def test_the_oauth2_redirect_page_is_served(gw: Gateway) -> None:
    answer = gw.client.get("/docs/oauth2-redirect")
    assert answer.status_code == 200
    assert "oauth2" in answer.text.lower()


def test_the_assets_come_from_the_pinned_package() -> None:
    pyproject = (Path(REPO_ROOT) / "pyproject.toml").read_text()
    assert re.search(r'"fastapi-offline==[0-9.]+"', pyproject)
