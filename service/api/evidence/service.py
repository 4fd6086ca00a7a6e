"""Evidence use cases shared by the API, the CLI and the benchmark: register a record, attest it,
revoke an attestation (each a ledger transaction, answered from SQL once indexed), who may see a
record, and the verification of a document against its registered hash."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from service.api.auth import sees_everything
from service.api.context import AppContext
from service.api.evidence.schemas import (
    KINDS,
    AttestationOut,
    EvidenceIn,
    EvidenceOut,
    EvidenceWrite,
    VerifyOut,
)
from service.api.members.queries import require_acting_member_active, resolve_party
from service.api.notes.queries import financed_obligors
from service.api.problems import ProblemError, revert_problem
from service.api.writes import Answer, Sent, transact
from service.db.evidence_models import EvidenceAttestation, EvidenceRecord
from service.db.gateway_models import ApiMember
from service.db.models import Member, Note
from service.domain import FINANCIER, MemberStatus, NoteStatus, Role


def evidence_not_found(doc_hash: str) -> ProblemError:
    return ProblemError(
        404, "evidence-not-found", "No such evidence", f"no trade record {doc_hash} that you may see"
    )


def visibility(member: ApiMember) -> ColumnElement[bool] | None:
    """SQL condition on evidence records `member` may see (None: all): its own as supplier or
    buyer, those it attested, and, for a financier, those of suppliers that approved it with a grant
    above 0."""
    if sees_everything(member):
        return None
    attested = select(EvidenceAttestation.doc_hash).where(EvidenceAttestation.attester == member.address)
    conditions = [
        EvidenceRecord.supplier == member.address,
        EvidenceRecord.buyer == member.address,
        EvidenceRecord.doc_hash.in_(attested),
    ]
    if FINANCIER in member.role_names:
        conditions.append(EvidenceRecord.supplier.in_(financed_obligors(member.address)))
    return or_(*conditions)


def visible_record(session: Session, member: ApiMember, doc_hash: str) -> EvidenceRecord:
    doc = doc_hash.lower()
    stmt = select(EvidenceRecord).where(EvidenceRecord.doc_hash == doc)
    condition = visibility(member)
    if condition is not None:
        stmt = stmt.where(condition)
    record = session.scalars(stmt).first()
    if record is None:
        raise evidence_not_found(doc)
    return record


def records_out(context: AppContext, session: Session, records: list[EvidenceRecord]) -> list[EvidenceOut]:
    hashes = [r.doc_hash for r in records]
    attestations: dict[str, list[EvidenceAttestation]] = {h: [] for h in hashes}
    if hashes:
        rows = session.scalars(
            select(EvidenceAttestation)
            .where(EvidenceAttestation.doc_hash.in_(hashes))
            .order_by(EvidenceAttestation.attested_block, EvidenceAttestation.attester)
        )
        for row in rows:
            attestations[row.doc_hash].append(row)
    parties = {r.supplier for r in records} | {r.buyer for r in records}
    parties |= {a.attester for rows_ in attestations.values() for a in rows_}
    ids = context.members.ids(session, parties)
    return [
        EvidenceOut(
            document_hash=r.doc_hash,
            kind=r.kind,
            supplier=r.supplier,
            supplier_member=ids.get(r.supplier),
            buyer=r.buyer,
            buyer_member=ids.get(r.buyer),
            currency=r.currency or None,
            amount=str(r.amount),
            registered_at=r.registered_at,
            registered_block=r.registered_block,
            attester_count=r.attester_count,
            financed_note_id=None if r.financed_note_id is None else str(r.financed_note_id),
            attestations=[
                AttestationOut(
                    attester=a.attester,
                    attester_member=ids.get(a.attester),
                    attested_at=a.attested_at,
                    attested_block=a.attested_block,
                    revoked_at=a.revoked_at,
                    revoked_block=a.revoked_block,
                )
                for a in attestations[r.doc_hash]
            ],
        )
        for r in records
    ]


def evidence_written(context: AppContext, inputs: dict[str, Any], sent: list[Sent]) -> Answer:
    """The answer of an evidence write: the record as indexed."""
    result, indexed = sent[-1].result, sent[-1].indexed
    evidence = None
    if indexed:
        with context.session() as session:
            record = session.get(EvidenceRecord, inputs["doc_hash"])
            if record is not None:
                evidence = records_out(context, session, [record])[0]
    return int(inputs["status"]), EvidenceWrite(
        tx_hash=result.tx_hash, block_number=result.block_number, indexed=indexed, evidence=evidence
    )


def _hash_in_use(session: Session, doc: str) -> None:
    if session.get(EvidenceRecord, doc) is not None:
        raise revert_problem(
            "EvidenceAlreadyRegistered", f"the document {doc} is already registered as evidence"
        )
    used = session.scalars(
        select(Note.id).where(
            Note.document_hash == doc,
            Note.parent_id.is_(None),
            Note.status.not_in([NoteStatus.REJECTED, NoteStatus.REVOKED]),
        )
    ).first()
    if used is not None:
        raise revert_problem("DocumentAlreadyUsed", f"the document already backs note {used}")


def register_evidence(context: AppContext, supplier: ApiMember, body: EvidenceIn) -> Answer:
    """`supplier` registers a trade record against a buyer (one invoice, one financing: a hash that
    backs a note or another record is refused)."""
    doc = body.document_hash.lower()
    with context.session() as session:
        require_acting_member_active(session, supplier)
        buyer = resolve_party(session, body.buyer, "buyer")
        if buyer == supplier.address:
            raise revert_problem("SelfDealing", "a supplier cannot be its own buyer", field="buyer")
        row = session.get(Member, buyer)
        if row is None:
            raise revert_problem("NotAMember", f"buyer: {buyer} is not a member", field="buyer")
        if not Role(row.roles) & Role.CORE_ENTERPRISE:
            raise revert_problem("MissingRole", f"buyer: {buyer} is not a core enterprise", field="buyer")
        if MemberStatus(row.status) is not MemberStatus.ACTIVE:
            raise revert_problem("MemberNotActive", f"buyer: {buyer} is suspended", field="buyer")
        _hash_in_use(session, doc)
    kind = KINDS.index(body.kind)
    currency = body.currency
    return transact(
        context,
        supplier,
        evidence_written,
        {"doc_hash": doc, "status": 201},
        lambda account: context.ledger.register_evidence(
            account, bytes.fromhex(doc[2:]), kind, buyer, currency, body.amount
        ),
    )


def attest_evidence(context: AppContext, attester: ApiMember, doc_hash: str) -> Answer:
    """A data provider vouches for a record (not its own; once)."""
    doc = doc_hash.lower()
    with context.session() as session:
        require_acting_member_active(session, attester)
        record = session.get(EvidenceRecord, doc)
        if record is None:
            raise evidence_not_found(doc)
        if attester.address in (record.supplier, record.buyer):
            raise revert_problem(
                "SelfAttestation", "a party to the record (supplier or buyer) cannot attest it"
            )
        earlier = session.get(EvidenceAttestation, (doc, attester.address))
        if earlier is not None:  # once per attester, a revoked attestation included
            raise revert_problem("AlreadyAttested", f"you attested {doc} already")
    return transact(
        context,
        attester,
        evidence_written,
        {"doc_hash": doc, "status": 201},
        lambda account: context.ledger.attest_evidence(account, bytes.fromhex(doc[2:])),
    )


def revoke_attestation(context: AppContext, attester: ApiMember, doc_hash: str) -> Answer:
    """The attester withdraws its attestation of a record."""
    doc = doc_hash.lower()
    with context.session() as session:
        require_acting_member_active(session, attester)
        live = session.get(EvidenceAttestation, (doc, attester.address))
        if live is None or live.revoked_block is not None:
            raise revert_problem("NotAttested", f"you have no live attestation of {doc}")
    return transact(
        context,
        attester,
        evidence_written,
        {"doc_hash": doc, "status": 200},
        lambda account: context.ledger.revoke_attestation(account, bytes.fromhex(doc[2:])),
    )


def verify_document(record: EvidenceRecord, document: bytes) -> VerifyOut:
    """Whether `document`'s SHA-256 is the registered hash (the bytes are not kept)."""
    computed = "0x" + hashlib.sha256(document).hexdigest()
    return VerifyOut(
        document_hash=record.doc_hash,
        computed_hash=computed,
        match=computed == record.doc_hash,
        size=len(document),
    )


def find_evidence(
    context: AppContext,
    session: Session,
    member: ApiMember,
    *,
    supplier: str | None = None,
    buyer: str | None = None,
    kind: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[EvidenceOut], bool]:
    """The records `member` may see (with their attestations), optionally of one supplier or buyer
    (addresses) or kind, by document hash after `cursor`; and whether more follow."""
    stmt = select(EvidenceRecord).order_by(EvidenceRecord.doc_hash).limit(limit + 1)
    if supplier is not None:
        stmt = stmt.where(EvidenceRecord.supplier == supplier)
    if buyer is not None:
        stmt = stmt.where(EvidenceRecord.buyer == buyer)
    if kind is not None:
        stmt = stmt.where(EvidenceRecord.kind == kind)
    if cursor is not None:
        stmt = stmt.where(EvidenceRecord.doc_hash > cursor)
    condition = visibility(member)
    if condition is not None:
        stmt = stmt.where(condition)
    records = list(session.scalars(stmt))
    return records_out(context, session, records[:limit]), len(records) > limit
