"""RFC 9457 problem details: the `ProblemError` exception, the mapping of every ledger error to a
stable `type` URI and HTTP status, and the FastAPI exception handlers."""

from __future__ import annotations

import logging
from typing import Any

import requests
import urllib3
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import (
    DBAPIError,
    InterfaceError,
    OperationalError,
    PendingRollbackError,
    ResourceClosedError,
)
from sqlalchemy.exc import TimeoutError as SqlTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from web3.exceptions import ProviderConnectionError as Web3ProviderConnectionError
from web3.exceptions import TimeExhausted as Web3TimeExhausted

from service.ledger.errors import (
    REVERT_CLASSES,
    InsufficientGas,
    LedgerError,
    LedgerRevert,
    LedgerUnavailable,
    TransactionTimeout,
    UnknownRevert,
)
from service.ledger.jsonrpc import NodeHttpError, NodeUnreachable

ERRORS_BASE = "https://credchain.dev/errors/"
PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_SECONDS = 1
"""Retry-After of a 503 for a node or database fault. Invariant: well below the server's keep-alive
timeout (`Settings.keep_alive_seconds`, at least 5, uvicorn's `timeout_keep_alive`): a client that
waits this long and reuses its connection must find it still open, not closing under it (with both
at 5 s, such retries often met a connection the server was just closing)."""

log = logging.getLogger("credchain.api")


def problem_type(slug: str) -> str:
    return ERRORS_BASE + slug


class ProblemError(Exception):
    """An error answer: `slug` names the stable type URI; `extra` adds members to the body."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": problem_type(self.slug), "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


REVERT_PROBLEMS: dict[str, tuple[str, int]] = {
    # member registry
    "NotOperator": ("not-operator", 403),
    "NotPendingOperator": ("not-pending-operator", 403),
    "ZeroAddress": ("zero-address", 422),
    "InvalidRoles": ("invalid-roles", 422),
    "MemberAlreadyOnboarded": ("member-already-onboarded", 409),
    "NotAMember": ("not-a-member", 422),
    "MemberNotActive": ("member-suspended", 409),
    "MemberNotSuspended": ("member-not-suspended", 409),
    "MissingRole": ("missing-role", 403),
    # credit notes
    "NoteNotFound": ("note-not-found", 404),
    "NotHolder": ("not-holder", 403),
    "NotObligor": ("not-obligor", 403),
    "NoteNotPending": ("note-not-pending", 409),
    "NoteNotActive": ("note-not-active", 409),
    "NoteNotLive": ("note-not-live", 409),
    "NoteIsFrozen": ("note-frozen", 409),
    "NoteNotFrozen": ("note-not-frozen", 409),
    "NoteMatured": ("note-matured", 409),
    "ZeroAmount": ("zero-amount", 422),
    "AmountTooLarge": ("amount-too-large", 422),
    "AmountsDoNotSum": ("amounts-do-not-sum", 422),
    "InvalidPartCount": ("invalid-part-count", 422),
    "InvalidCurrency": ("invalid-currency", 422),
    "InvalidMaturity": ("invalid-maturity", 422),
    "InvalidTenor": ("invalid-tenor", 422),
    "ZeroDocumentHash": ("zero-document-hash", 422),
    "DocumentAlreadyUsed": ("document-already-used", 409),
    "CreditLimitExceeded": ("insufficient-credit-limit", 409),
    "CreditLimitTooLarge": ("credit-limit-too-large", 422),
    "SelfDealing": ("self-dealing", 422),
    "TreeFull": ("tree-full", 409),
    "FinancierNotApproved": ("financier-not-approved", 409),
    "FinancierAlreadyApproved": ("financier-already-approved", 409),
    # discount and settlement
    "SettlementTokenNotSet": ("settlement-token-not-set", 409),
    "SettlementTokenAlreadySet": ("settlement-token-already-set", 409),
    "SettlementTokenMismatch": ("settlement-token-mismatch", 422),
    "TokenTransferFailed": ("token-transfer-failed", 409),
    "InvalidGracePeriod": ("invalid-grace-period", 422),
    "InvalidPrice": ("invalid-price", 422),
    "InvalidDeadline": ("invalid-deadline", 422),
    "OfferNotOpen": ("offer-not-open", 409),
    "NotOfferer": ("not-offerer", 403),
    "OfferExpired": ("offer-expired", 409),
    "OfferVoid": ("offer-void", 409),
    "NotAnOffChainOffer": ("not-an-off-chain-offer", 409),
    "DiscountPaymentNotRecorded": ("discount-payment-not-recorded", 409),
    "ZeroReference": ("zero-reference", 422),
    "NoteNotMatured": ("note-not-matured", 409),
    "NoteNotPayable": ("note-not-payable", 409),
    "PaymentTooLarge": ("payment-too-large", 422),
    "PaymentClaimMismatch": ("payment-claim-mismatch", 409),
    "NotOverdueYet": ("not-overdue-yet", 409),
    "InvalidBatch": ("invalid-batch", 422),
    "AmountBelowMinimum": ("amount-below-minimum", 422),
    "NoPaymentClaim": ("no-payment-claim", 409),
    # evidence-backed receivables (EvidenceRegistry and the ledger's hooks)
    "DocumentIsEvidence": ("document-is-evidence", 409),
    "NotEvidenceRegistry": ("not-evidence-registry", 403),
    "EvidenceRegistryAlreadySet": ("evidence-registry-already-set", 409),
    "ReceivableAlreadyConverted": ("receivable-already-converted", 409),
    "InvalidEvidenceKind": ("invalid-evidence-kind", 422),
    "InvoiceAmountRequired": ("invoice-amount-required", 422),
    "EvidenceAlreadyRegistered": ("evidence-already-registered", 409),
    "EvidenceNotFound": ("evidence-not-found", 404),
    "NotEvidenceSupplier": ("not-evidence-supplier", 403),
    "SelfAttestation": ("self-attestation", 403),
    "AlreadyAttested": ("already-attested", 409),
    "NotAttested": ("not-attested", 409),
    "TooManyAttesters": ("too-many-attesters", 409),
    "NotAnInvoice": ("not-an-invoice", 422),
    "EvidenceNotAttested": ("evidence-not-attested", 409),
    "AmountExceedsInvoice": ("amount-exceeds-invoice", 422),
    "TooManySupporting": ("too-many-supporting", 422),
    "UnrelatedEvidence": ("unrelated-evidence", 422),
    "NotAReceivable": ("not-a-receivable", 404),
    "NotReceivableBuyer": ("not-receivable-buyer", 403),
    # settlement token (ERC-20), bubbling up through the ledger
    "NotAnActiveMember": ("not-an-active-member", 409),
    "ReferenceAlreadyUsed": ("reference-already-used", 409),
    "ERC20InsufficientBalance": ("insufficient-settlement-tokens", 409),
    "ERC20InsufficientAllowance": ("insufficient-settlement-allowance", 409),
    "ERC20InvalidSender": ("invalid-token-sender", 422),
    "ERC20InvalidReceiver": ("invalid-token-receiver", 422),
    "ERC20InvalidApprover": ("invalid-token-approver", 422),
    "ERC20InvalidSpender": ("invalid-token-spender", 422),
    # forwarder (relay of requests signed by self-custodied members)
    "ERC2771ForwarderInvalidSigner": ("invalid-signature", 422),
    "ERC2771ForwarderMismatchedValue": ("relay-value-not-allowed", 422),
    "ERC2771ForwarderExpiredRequest": ("relay-request-expired", 422),
    "ERC2771UntrustfulTarget": ("relay-target-not-ledger", 422),
    "FailedCall": ("relayed-call-failed", 409),
    "InsufficientBalance": ("forwarder-insufficient-balance", 409),
    "InvalidAccountNonce": ("stale-nonce", 409),
    "InvalidShortString": ("forwarder-misconfigured", 422),
    "StringTooLong": ("forwarder-misconfigured", 422),
    "UnknownRevert": ("ledger-refused", 409),
}
"""Every custom error of the contracts (`service.ledger.errors.REVERT_CLASSES`): type slug, status."""


def revert_problem(name: str, detail: str | None = None, **extra: Any) -> ProblemError:
    """The problem for the contract error `name` (also used by the gateway's own pre-checks)."""
    slug, status = REVERT_PROBLEMS[name]
    cls = REVERT_CLASSES.get(name, UnknownRevert)
    title = cls.description
    return ProblemError(status, slug, title[:1].upper() + title[1:], detail, ledger_error=name, **extra)


def _json_safe(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value if isinstance(value, str | float) else str(value)


INSUFFICIENT_GAS = "insufficient-gas"
INSUFFICIENT_GAS_STATUS = 503
"""Status of `insufficient-gas`. Not a 4xx: the caller did nothing wrong and cannot fix it by
changing the request (the gateway holds the account's key and the operator its funding), and a 409
would tell client libraries the request itself conflicts and must not be sent again. A 503 says the
gateway cannot serve this write now, counts towards the 5xx alerts an operator watches, and lets the
very same request (same Idempotency-Key) be sent again. No Retry-After: waiting does not help until
the operator tops the account up, so no delay can be promised; the body says what has to happen."""


def insufficient_gas(
    address: str | None,
    *,
    member_id: str | None = None,
    balance: int | None = None,
    cost: int | None = None,
) -> ProblemError:
    """The problem of a write whose signing account cannot pay for the gas: the account (member id
    and address), its balance and the transaction's estimated cost in wei (strings), and what to do."""
    who = f"member {member_id} ({address})" if member_id else f"account {address}"
    detail = (
        f"{who} has {balance if balance is not None else 'too little'} wei of ether for gas"
        + (f"; this transaction may cost up to {cost} wei" if cost is not None else "")
        + ". Nothing was sent. The operator tops the account up (`credchain funding top-up "
        + (member_id or "<member id>")
        + " --eth 1` or POST /v1/funding/top-ups); then send the same request again, with the same "
        "Idempotency-Key: it is done once"
    )
    return ProblemError(
        INSUFFICIENT_GAS_STATUS,
        INSUFFICIENT_GAS,
        "The signing account cannot pay for the gas",
        detail,
        member_id=member_id,
        address=address,
        balance_wei=str(balance) if balance is not None else None,
        estimated_cost_wei=str(cost) if cost is not None else None,
    )


def ledger_problem(exc: LedgerError) -> ProblemError:
    """The problem answer for any ledger exception."""
    if isinstance(exc, InsufficientGas):
        return insufficient_gas(exc.address, balance=exc.balance, cost=exc.cost)
    if isinstance(exc, LedgerRevert):
        return revert_problem(
            exc.error_name, f"the ledger refused the transaction: {exc}", arguments=_json_safe(exc.arguments)
        )
    if isinstance(exc, LedgerUnavailable):
        return ledger_unavailable()
    if isinstance(exc, TransactionTimeout):
        return ProblemError(  # the text is ours: "no receipt for <tx hash>"
            504, "transaction-timeout", "The transaction was sent but not mined in time", str(exc)
        )
    # the node's own words may name hosts, ports or URLs: they go to the log, not to the caller
    return ProblemError(
        502, "ledger-error", "The ledger node answered with an error", "the ledger node refused the request"
    )


def ledger_unavailable() -> ProblemError:
    """503 for a node that cannot be reached; what the connection error said is only logged (it
    names the node's host, port and URL)."""
    return ProblemError(
        503,
        "ledger-unavailable",
        "The ledger node cannot be reached",
        "the ledger node is unreachable; retry later",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def database_unavailable() -> ProblemError:
    """503 for a database that cannot be reached or timed out (no SQL or driver text in the body)."""
    return ProblemError(
        503,
        "database-unavailable",
        "The database cannot be reached",
        "the gateway's database is unavailable; retry later",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def internal_error() -> ProblemError:
    """500 for anything unexpected; the details are in the log under the answer's X-Request-ID."""
    return ProblemError(
        500,
        "internal-error",
        "Internal server error",
        "the gateway failed to answer this request; it is logged under the X-Request-ID of this answer",
    )


def request_id_of(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def problem_response(problem: ProblemError, request: Request | None = None) -> JSONResponse:
    instance = request.url.path if request is not None else None
    return JSONResponse(
        problem.body(instance), status_code=problem.status, headers=problem.headers, media_type=PROBLEM_JSON
    )


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ())]
        errors.append(
            {"field": ".".join(loc), "message": str(error.get("msg", "")), "code": error.get("type")}
        )
    return errors


NODE_FAULTS: tuple[type[Exception], ...] = (
    NodeUnreachable,
    NodeHttpError,
    requests.ConnectionError,
    requests.Timeout,
    requests.HTTPError,
    urllib3.exceptions.HTTPError,
    Web3ProviderConnectionError,
    Web3TimeExhausted,
)
"""Exceptions of a node request made without the ledger client's mapping (which makes them
`LedgerUnavailable`): each is a 503 `ledger-unavailable`. `TimeExhausted` is web3's "no receipt
in time" (funding an account): the transaction may still be mined, the write is resolved on retry."""

DATABASE_FAULTS: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    SqlTimeoutError,
    PendingRollbackError,
    ResourceClosedError,
)
"""SQLAlchemy exceptions of a database that cannot be reached, dropped the connection (a backend
terminated, PostgreSQL restarted) or left a session unusable because of it: each a 503
`database-unavailable`. Any other `DBAPIError` is one too if its connection was invalidated
(`database_fault`)."""


def database_fault(exc: DBAPIError) -> bool:
    """Whether a driver error is the database's fault, not the request's or the code's: the
    connection was invalidated (a disconnect), or the driver says the server went away."""
    return bool(exc.connection_invalidated) or isinstance(exc, OperationalError | InterfaceError)


def is_database_fault(exc: BaseException) -> bool:
    """Whether `exc` is the database's fault (unreachable, a dropped connection): a 503."""
    return isinstance(exc, DATABASE_FAULTS) or (isinstance(exc, DBAPIError) and database_fault(exc))


def fault_problem(exc: BaseException) -> ProblemError:
    """The answer for an exception that escaped every handler (`service.api.edge.ErrorBarrier`):
    a node or database fault is still its 503, anything else a 500."""
    if isinstance(exc, ProblemError):
        return exc
    if isinstance(exc, LedgerError):
        return ledger_problem(exc)
    if isinstance(exc, NODE_FAULTS):
        return ledger_unavailable()
    if is_database_fault(exc):
        return database_unavailable()
    return internal_error()


def install_handlers(app: FastAPI) -> None:
    """Every error the app can raise becomes application/problem+json."""

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(LedgerError)
    async def _ledger(request: Request, exc: LedgerError) -> JSONResponse:
        if not isinstance(exc, LedgerRevert):
            log.warning(
                "ledger: %s: %s",
                type(exc).__name__,
                exc,
                extra={"request_id": request_id_of(request), "path": request.url.path},
            )
        return problem_response(ledger_problem(exc), request)

    async def _node_unreachable(request: Request, exc: Exception) -> JSONResponse:
        """A node request made outside the ledger client (chain time, head block) failed to connect."""
        log.warning(
            "ledger node unreachable: %s: %s",
            type(exc).__name__,
            exc,
            extra={"request_id": request_id_of(request), "path": request.url.path},
        )
        return problem_response(ledger_unavailable(), request)

    for unreachable in NODE_FAULTS:
        app.add_exception_handler(unreachable, _node_unreachable)

    async def _database(request: Request, exc: Exception) -> JSONResponse:
        log.error(
            "database unavailable: %s: %s",
            type(exc).__name__,
            exc,
            extra={"request_id": request_id_of(request), "path": request.url.path},
        )
        return problem_response(database_unavailable(), request)

    for unavailable in DATABASE_FAULTS:
        app.add_exception_handler(unavailable, _database)

    async def _driver_error(request: Request, exc: Exception) -> JSONResponse:
        """Any other DBAPI error: a 503 if the connection was lost under it, else a bug (500)."""
        if isinstance(exc, DBAPIError) and database_fault(exc):
            return await _database(request, exc)
        log.error(
            "database error: %s: %s",
            type(exc).__name__,
            exc,
            exc_info=exc,
            extra={"request_id": request_id_of(request), "path": request.url.path},
        )
        return problem_response(internal_error(), request)

    app.add_exception_handler(DBAPIError, _driver_error)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        fields = ", ".join(e["field"] for e in errors)
        problem = ProblemError(
            422, "invalid-request", "The request is not valid", f"invalid fields: {fields}", errors=errors
        )
        return problem_response(problem, request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slugs = {404: "not-found", 405: "method-not-allowed", 401: "unauthorized"}
        problem = ProblemError(
            exc.status_code,
            slugs.get(exc.status_code, f"http-{exc.status_code}"),
            str(exc.detail),
            headers=dict(exc.headers or {}),
        )
        return problem_response(problem, request)
