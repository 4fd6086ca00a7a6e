"""/v1/evidence: a supplier registers trade records (hashes), data providers attest and revoke,
parties list and read them, anyone who may see a record verifies a document against it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from service.api.deps import Context, CurrentMember, Write, role_dependency
from service.api.evidence.schemas import KINDS, EvidenceIn, EvidenceOut, EvidencePage, VerifyOut
from service.api.evidence.service import (
    attest_evidence,
    find_evidence,
    records_out,
    register_evidence,
    revoke_attestation,
    verify_document,
    visible_record,
)
from service.api.members.queries import resolve_party
from service.api.problems import ProblemError
from service.api.schemas import Empty
from service.api.writes import Answer
from service.db.gateway_models import ApiMember
from service.domain import SUPPLIER

router = APIRouter(prefix="/v1/evidence", tags=["evidence"])
MAX_PAGE = 200
MAX_DOCUMENT_BYTES = 1_000_000
"""The largest document `verify` hashes (the gateway's body limit may be lower)."""
DATA_PROVIDER = "data_provider"
Supplier = Annotated[ApiMember, Depends(role_dependency(SUPPLIER))]
DataProvider = Annotated[ApiMember, Depends(role_dependency(DATA_PROVIDER))]
DocHash = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{64}$", description="the record's SHA-256, 0x-hex")]


def _invalid(detail: str, field: str) -> ProblemError:
    return ProblemError(422, "invalid-request", "The request is not valid", detail, field=field)


@router.post("", status_code=201, response_model=None)
def register(body: EvidenceIn, write: Write, context: Context, member: Supplier) -> JSONResponse:
    """Register a trade record against a buyer: its kind, the document's SHA-256 (the document stays
    with the supplier), an amount where the kind has one. One hash, one financing, network-wide."""

    def action() -> Answer:
        return register_evidence(context, member, body)

    return write.run(member, body, action)


@router.get("", response_model=EvidencePage)
def list_evidence(
    context: Context,
    member: CurrentMember,
    supplier: str | None = Query(default=None, max_length=64, description="member id or address"),
    buyer: str | None = Query(default=None, max_length=64, description="member id or address"),
    kind: str | None = Query(default=None, description=", ".join(KINDS)),
    cursor: str | None = Query(default=None, pattern=r"^0x[0-9a-f]{64}$", description="next_cursor"),
    limit: int = Query(default=50, ge=1, le=MAX_PAGE),
) -> EvidencePage:
    """The records the caller may see, with their attestations, by document hash."""
    if kind is not None and kind not in KINDS:
        raise _invalid(f"kind must be one of {list(KINDS)}", "kind")
    with context.session() as session:
        items, more = find_evidence(
            context,
            session,
            member,
            supplier=resolve_party(session, supplier, "supplier") if supplier is not None else None,
            buyer=resolve_party(session, buyer, "buyer") if buyer is not None else None,
            kind=kind,
            cursor=cursor,
            limit=limit,
        )
    return EvidencePage(items=items, next_cursor=items[-1].document_hash if more and items else None)


@router.get("/{doc_hash}", response_model=EvidenceOut)
def get_evidence(doc_hash: DocHash, context: Context, member: CurrentMember) -> EvidenceOut:
    with context.session() as session:
        return records_out(context, session, [visible_record(session, member, doc_hash)])[0]


@router.post("/{doc_hash}/attestations", status_code=201, response_model=None)
def attest(
    doc_hash: DocHash, write: Write, context: Context, member: DataProvider, body: Empty | None = None
) -> JSONResponse:
    """A data provider vouches for the record (recorded on the ledger: who, what, when)."""

    def action() -> Answer:
        return attest_evidence(context, member, doc_hash)

    return write.run(member, body or Empty(), action)


@router.delete("/{doc_hash}/attestations/mine", response_model=None)
def revoke(doc_hash: DocHash, write: Write, context: Context, member: DataProvider) -> JSONResponse:
    """The caller withdraws its attestation of the record."""

    def action() -> Answer:
        return revoke_attestation(context, member, doc_hash)

    return write.run(member, Empty(), action)


@router.post(
    "/{doc_hash}/verify",
    response_model=VerifyOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def verify(doc_hash: DocHash, request: Request, context: Context, member: CurrentMember) -> VerifyOut:
    """Send a document someone handed you as the raw body (`Content-Type: application/octet-stream`):
    whether its SHA-256 is the registered hash. The document is not stored."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/octet-stream":
        raise ProblemError(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            "send the document as the raw body with Content-Type: application/octet-stream",
        )
    document = await request.body()
    if len(document) > MAX_DOCUMENT_BYTES:
        raise ProblemError(413, "body-too-large", "Body too large", f"at most {MAX_DOCUMENT_BYTES} bytes")
    with context.session() as session:  # a short SQL read
        record = visible_record(session, member, doc_hash)
    return verify_document(record, document)
