"""The gateway's API documentation, complete without internet access.

- Swagger UI (`/docs`) and ReDoc (`/redoc`) pages whose scripts, stylesheet and icon are served by
  the gateway itself (`/docs/assets/`), from the files the pinned `fastapi-offline` package ships
  (FastAPI's own pages load them from a CDN and ReDoc's fonts from Google).
- The OpenAPI document (`gateway_openapi`): the bearer scheme the API keys use (declared by
  `service.api.auth.BEARER`), every operation's error answers as RFC 9457 problem+json (the
  `Problem` schema, shared `components/responses`, Retry-After on 429 and 503), and the catalogue of
  problem types (`PROBLEM_TYPES`, also as `x-problem-types`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from service.api.problems import ERRORS_BASE, PROBLEM_JSON, RETRY_AFTER_SECONDS, REVERT_PROBLEMS
from service.ledger.errors import REVERT_CLASSES, UnknownRevert

ASSETS_DIR: Final = Path(fastapi_offline.__file__).parent / "static"
"""swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js and favicon.png of `fastapi-offline`."""
ASSETS_PATH: Final = "/docs/assets"
DOCS_PATH: Final = "/docs"
OAUTH2_REDIRECT_PATH: Final = "/docs/oauth2-redirect"
REDOC_PATH: Final = "/redoc"

DOCS_CSP: Final = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",  # the pages' inline set-up script
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "frame-ancestors 'self'",
    ]
)
"""Content-Security-Policy of the docs pages: nothing from another host. ReDoc's scripts would
load a logo from cdn.redoc.ly whatever its options; the browser refuses it under this policy (the
page shows no logo) instead of asking a host outside."""

SWAGGER_UI_PARAMETERS: Final[dict[str, Any]] = {
    "validatorUrl": None,  # no badge asking validator.swagger.io about the document
    "persistAuthorization": True,
    "displayRequestDuration": True,
}

# ------------------------------------------------------------------ the Problem schema


class FieldError(BaseModel):
    """One invalid part of a request (`invalid-request`)."""

    field: str = Field(description="where: `body.amount`, `query.limit`, `header.Idempotency-Key`...")
    message: str
    code: str | None = Field(default=None, description="the validator's error code, e.g. `missing`")


class Problem(BaseModel):
    """An error answer, RFC 9457 problem details (`application/problem+json`). `type` is a stable
    URI naming what went wrong: one of the problem types listed in the API description (and in
    `x-problem-types`). Members besides the standard five give the figures of the refusal (e.g.
    `needed` and `balance`, `credit_limit` and `outstanding`)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": ERRORS_BASE + "insufficient-credit-limit",
                    "title": "The obligor's credit limit with this financier is too small",
                    "status": 409,
                    "detail": "the ledger refused the transaction: CreditLimitExceeded",
                    "instance": "/v1/notes",
                    "ledger_error": "CreditLimitExceeded",
                }
            ]
        },
    )

    type: str = Field(description=f"the problem type's URI ({ERRORS_BASE}<slug>)")
    title: str = Field(description="a short summary of the problem type")
    status: int = Field(description="the HTTP status of the answer")
    detail: str | None = Field(default=None, description="what went wrong with this request")
    instance: str | None = Field(default=None, description="the request's path")
    errors: list[FieldError] | None = Field(default=None, description="`invalid-request`: each invalid part")
    field: str | None = Field(default=None, description="the request field the problem is about")
    ledger_error: str | None = Field(
        default=None, description="the ledger contract's custom error, when the ledger refused"
    )
    arguments: dict[str, Any] | None = Field(default=None, description="the contract error's arguments")
    required_roles: list[str] | None = Field(default=None, description="`forbidden`: roles that would do")
    member: str | None = Field(default=None, description="`member-suspended`: the suspended member")
    tx_hashes: list[str] | None = Field(
        default=None, description="transactions the write already sent (a timeout or dropped transaction)"
    )
    unknown_parameters: list[str] | None = Field(default=None, description="query parameters not accepted")
    accepted_parameters: list[str] | None = Field(default=None, description="the query parameters accepted")
    limit: str | None = Field(default=None, description="`rate-limited`: the limit exceeded")


# ------------------------------------------------------------------ the catalogue of problem types

GATEWAY_PROBLEMS: Final[dict[str, tuple[int, str]]] = {
    # the request itself
    "invalid-request": (422, "The request is not valid"),
    "invalid-content-length": (400, "The Content-Length header is not valid"),
    "nul-character": (400, "The request contains a NUL character"),
    "body-too-deep": (400, "The request body is nested too deeply"),
    "body-too-large": (413, "The request body is too large"),
    "invalid-address": (422, "Not an address"),
    "invalid-basis": (422, "The day-count basis is not valid"),
    "invalid-rate": (422, "The rate is not valid"),
    "invalid-transaction-hash": (422, "The transaction hash is not valid"),
    "invalid-idempotency-key": (422, "The Idempotency-Key header is not valid"),
    "idempotency-key-reuse": (422, "The Idempotency-Key was already used for a different request"),
    "idempotency-key-in-use": (409, "A request with this Idempotency-Key is still being processed"),
    "not-found": (404, "Not found"),
    "method-not-allowed": (405, "Method not allowed"),
    # who asks
    "unauthorized": (401, "Authentication required"),
    "forbidden": (403, "Your roles do not allow this"),
    "member-suspended": (403, "The member is suspended"),
    "rate-limited": (429, "Too many requests"),
    # what the gateway knows
    "member-not-found": (404, "No such member"),
    "member-exists": (409, "Already a member"),
    "offer-not-found": (404, "No such offer"),
    "settlement-job-not-found": (404, "No such settlement job"),
    "transaction-not-found": (404, "No such transaction"),
    "nothing-to-settle": (409, "Nothing to settle"),
    "obligor-gone": (409, "The obligor's gateway member no longer exists"),
    "self-custody": (409, "This member holds its own keys"),
    "no-funder": (409, "No funder is configured"),
    # evidence-backed receivables
    "receivable-not-found": (404, "No such receivable"),
    "no-receivable-policy": (404, "No receivable policy"),
    "receivable-policy-required": (409, "A receivable policy is required"),
    "unsupported-media-type": (415, "Unsupported media type"),
    # relay of signed requests
    "custodial-member": (409, "The gateway signs for this member"),
    "relay-unavailable": (409, "This gateway does not relay signed requests"),
    "relay-sender-mismatch": (403, "The request is not from the caller"),
    "relay-deadline-too-far": (422, "The request's deadline is too far ahead"),
    "relay-gas-over-budget": (422, "The request needs more gas than a day's relay budget"),
    "relay-budget-exhausted": (429, "The member's relay gas budget is spent"),
    "unknown-ledger-function": (422, "The calldata does not call a state-changing function of the ledger"),
    # events, webhook subscriptions, alerts
    "event-not-found": (404, "No such event"),
    "too-many-streams": (429, "Too many open event streams"),
    "streams-unavailable": (503, "The gateway serves no more event streams now"),
    "shutting-down": (503, "The gateway is shutting down"),
    "subscription-not-found": (404, "No such subscription"),
    "subscription-limit": (409, "Too many subscriptions"),
    "subscription-not-active": (409, "Subscription not active"),
    "subscription-not-paused": (409, "Subscription not paused"),
    "replay-ahead": (409, "Replay would skip events"),
    "alert-resolved": (409, "The alert is resolved"),
    "obligor-under-alert": (409, "The obligor is under an alert"),
    # faults: retry
    "gateway-busy": (503, "The gateway has too many writes in flight"),
    "ledger-unavailable": (503, "The ledger node cannot be reached"),
    "database-unavailable": (503, "The database cannot be reached"),
    "insufficient-gas": (503, "The account cannot pay for gas; the operator must top it up"),
    "transaction-dropped": (503, "The transaction was sent but the node no longer has it"),
    "transaction-timeout": (504, "The transaction was sent but not mined in time"),
    "ledger-error": (502, "The ledger node answered with an error"),
    "internal-error": (500, "Internal server error"),
}
"""The gateway's own problem types (slug: status, title); the ledger's are `REVERT_PROBLEMS`
(tests/api/test_api_docs.py checks every slug the code raises is in one of them)."""


def problem_types() -> list[dict[str, Any]]:
    """Every problem type the gateway answers: type URI, title, status, and the ledger contract
    error it stands for (if any), the gateway's own first, each type once."""
    catalogue: dict[str, dict[str, Any]] = {}
    for slug, (status, title) in GATEWAY_PROBLEMS.items():
        catalogue[slug] = {"type": ERRORS_BASE + slug, "title": title, "status": status}
    for name, (slug, status) in REVERT_PROBLEMS.items():
        if slug in catalogue:  # several contract errors may share a type (forwarder-misconfigured)
            catalogue[slug].setdefault("ledger_errors", []).append(name)
            continue
        description = REVERT_CLASSES.get(name, UnknownRevert).description
        title = description[:1].upper() + description[1:]
        catalogue[slug] = {
            "type": ERRORS_BASE + slug,
            "title": title,
            "status": status,
            "ledger_errors": [name],
        }
    return list(catalogue.values())


def _catalogue_markdown(types: list[dict[str, Any]]) -> str:
    rows = [
        f"| {t['status']} | `{t['type'].removeprefix(ERRORS_BASE)}` | {t['title']} |"
        f" {', '.join(t.get('ledger_errors', []))} |"
        for t in sorted(types, key=lambda t: (t["status"], t["type"]))
    ]
    return "\n".join(
        [
            "## Errors",
            "",
            "Every error is RFC 9457 problem+json (`application/problem+json`, schema `Problem`): its "
            f"`type` is `{ERRORS_BASE}<slug>`, one of the types below. 4xx: the request's fault, do "
            "not repeat it unchanged (except 409 `idempotency-key-in-use` and 429, after "
            "`Retry-After`). 503: the node or the database is unavailable or the gateway is busy; "
            "retry after `Retry-After` seconds (with the same `Idempotency-Key` for a write).",
            "",
            "| status | type | title | ledger error |",
            "|---|---|---|---|",
            *rows,
        ]
    )


# ------------------------------------------------------------------ error responses per operation

_RETRY_AFTER = {
    "description": "seconds to wait before retrying",
    "schema": {"type": "integer", "example": RETRY_AFTER_SECONDS},
}
ERROR_RESPONSES: Final[dict[int, tuple[str, str, bool]]] = {
    400: ("BadRequest", "Malformed: `invalid-content-length`, `nul-character`, `body-too-deep`", False),
    401: ("Unauthorized", "`unauthorized`: no `Authorization: Bearer <API key>`, or an unknown key", False),
    403: ("Forbidden", "`forbidden` (roles), `member-suspended`, or the ledger's role checks", False),
    404: ("NotFound", "No such resource (`member-not-found`, `note-not-found`, `offer-not-found`...)", False),
    409: ("Conflict", "The state refuses it (`note-not-active`, `insufficient-credit-limit`...)", False),
    413: ("PayloadTooLarge", "`body-too-large`", False),
    422: (
        "UnprocessableContent",
        "`invalid-request` (field errors in `errors`, unknown query parameters) or a value the ledger "
        "refuses (e.g. `invalid-maturity`)",
        False,
    ),
    429: ("TooManyRequests", "`rate-limited` (or `relay-budget-exhausted`); retry after `Retry-After`", True),
    500: ("InternalError", "`internal-error`: logged under the answer's X-Request-ID", False),
    502: ("BadGateway", "`ledger-error`: the ledger node answered with an error", False),
    503: (
        "ServiceUnavailable",
        "`ledger-unavailable`, `database-unavailable`, `gateway-busy`, `transaction-dropped`: retry "
        "after `Retry-After`",
        True,
    ),
    504: (
        "GatewayTimeout",
        "`transaction-timeout`: sent but not mined in time; retry with the same Idempotency-Key",
        False,
    ),
}
"""Each documented error status: the name of its shared response, its description, Retry-After."""

EVERY_OPERATION: Final = (400, 422, 429, 500, 503)
AUTHENTICATED: Final = (401, 403)
WITH_PATH_PARAMETERS: Final = (404,)
WRITES: Final = (409, 413, 502, 504)


def error_statuses(method: str, path: str, operation: dict[str, Any]) -> list[int]:
    """The error statuses `operation` (`method` `path`) may answer."""
    statuses = set(EVERY_OPERATION)
    if operation.get("security"):
        statuses.update(AUTHENTICATED)
    if "{" in path:
        statuses.update(WITH_PATH_PARAMETERS)
    if method.upper() not in ("GET", "HEAD", "OPTIONS"):
        statuses.update(WRITES)
    return sorted(statuses)


def _shared_responses() -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for _status, (name, description, retry_after) in ERROR_RESPONSES.items():
        response: dict[str, Any] = {
            "description": description,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        if retry_after:
            response["headers"] = {"Retry-After": _RETRY_AFTER}
        responses[name] = response
    return responses


def _add_problem_schema(schemas: dict[str, Any]) -> None:
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    schemas["Problem"] = schema
    for default in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422, never answered here
        schemas.pop(default, None)


def document_errors(document: dict[str, Any]) -> dict[str, Any]:
    """`document` (an OpenAPI document of the gateway) with the Problem schema, the shared error
    responses on every operation, and the catalogue of problem types; changed in place."""
    components = document.setdefault("components", {})
    _add_problem_schema(components.setdefault("schemas", {}))
    components.setdefault("responses", {}).update(_shared_responses())
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status in error_statuses(method, path, operation):
                name = ERROR_RESPONSES[status][0]
                responses[str(status)] = {"$ref": f"#/components/responses/{name}"}
    types = problem_types()
    document["x-problem-types"] = types
    info = document.setdefault("info", {})
    info["description"] = (info.get("description") or "") + "\n\n" + _catalogue_markdown(types)
    return document


def gateway_openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """`app.openapi` for the gateway: FastAPI's document (cached in `app.openapi_schema`, built
    again if routes were added) with `document_errors`, once per build."""

    def openapi() -> dict[str, Any]:
        document = FastAPI.openapi(app)
        if "x-problem-types" not in document:
            document_errors(document)
        return document

    return openapi


# ------------------------------------------------------------------ the pages


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _self_contained(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = DOCS_CSP
    return page


def install_docs(app: FastAPI) -> None:
    """Serve `/docs`, `/docs/oauth2-redirect` and `/redoc` with assets from `/docs/assets` (build the
    app with `docs_url=None, redoc_url=None`), and the gateway's OpenAPI document. The pages are
    plain Starlette routes: no app-wide dependency (e.g. the unknown query parameter check) applies."""
    app.openapi = gateway_openapi(app)  # type: ignore[method-assign]
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    title = app.title

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = _root(request)
        return _self_contained(
            get_swagger_ui_html(
                openapi_url=root + str(app.openapi_url),
                title=f"{title} - Swagger UI",
                swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
                swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
                oauth2_redirect_url=root + OAUTH2_REDIRECT_PATH,
                swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
            )
        )

    async def oauth2_redirect(_request: Request) -> HTMLResponse:
        return _self_contained(get_swagger_ui_oauth2_redirect_html())

    async def redoc(request: Request) -> HTMLResponse:
        root = _root(request)
        return _self_contained(
            get_redoc_html(
                openapi_url=root + str(app.openapi_url),
                title=f"{title} - ReDoc",
                redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
                with_google_fonts=False,
            )
        )

    app.add_route(DOCS_PATH, swagger_ui, methods=["GET"], include_in_schema=False)
    app.add_route(OAUTH2_REDIRECT_PATH, oauth2_redirect, methods=["GET"], include_in_schema=False)
    app.add_route(REDOC_PATH, redoc, methods=["GET"], include_in_schema=False)
