"""GET /v1/settlement-jobs[/{id}]: the durable jobs of root settlements, for the obligor, the
auditor and the operator (the runner is `settlement_jobs`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.api.auth import sees_everything
from service.api.deps import Context, CurrentMember
from service.api.financing.schemas import (
    SettlementJobList,
    SettlementJobOut,
)
from service.api.notes.queries import parse_note_id
from service.api.problems import ProblemError
from service.db.gateway_models import ApiMember, SettlementJob

router = APIRouter(tags=["settlement"])


def job_out(job: SettlementJob) -> SettlementJobOut:
    return SettlementJobOut(
        id=job.id,
        root_id=str(job.root_id),
        currency=job.currency,
        status=job.status,  # type: ignore[arg-type]
        batches_done=job.batches_done,
        batches_total=job.batches_total,
        notes_total=job.notes_total,
        amount_total=str(job.amount_total),
        notes_paid=job.notes_paid,
        amount_paid=str(job.amount_paid),
        tx_hashes=list(job.tx_hashes),
        error=job.error,
        created_at=_utc(job.created_at),
        updated_at=_utc(job.updated_at),
        finished_at=None if job.finished_at is None else _utc(job.finished_at),
    )


def _utc(moment: datetime) -> datetime:
    """SQLite gives timestamps back without their zone: they were written in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _visible_job(session: Session, member: ApiMember, job_id: str) -> SettlementJob:
    """The job, if `member` may see it: its obligor, the auditor or the operator; else 404."""
    job = session.get(SettlementJob, job_id)
    if job is None or not (job.obligor == member.address or sees_everything(member)):
        raise ProblemError(404, "settlement-job-not-found", "No such settlement job", f"no job {job_id!r}")
    return job


@router.get("/v1/settlement-jobs/{job_id}", response_model=SettlementJobOut)
def get_settlement_job(job_id: str, context: Context, member: CurrentMember) -> SettlementJobOut:
    """A settlement job: its status (queued, running, done, failed), batches done of the total
    planned, notes and amount paid so far, every transaction, and the problem that failed it. Seen
    by its obligor, the auditor and the operator."""
    with context.session() as session:
        return job_out(_visible_job(session, member, job_id))


@router.get("/v1/settlement-jobs", response_model=SettlementJobList)
def list_settlement_jobs(
    context: Context,
    member: CurrentMember,
    root: str | None = None,
    status: Literal["queued", "running", "done", "failed"] | None = None,
) -> SettlementJobList:
    """Settlement jobs, newest first (at most 100): an obligor's own, or all for the auditor and the
    operator; `root` and `status` filter them."""
    query = select(SettlementJob).order_by(SettlementJob.created_at.desc(), SettlementJob.id).limit(100)
    if not sees_everything(member):
        query = query.where(SettlementJob.obligor == member.address)
    if root is not None:
        query = query.where(SettlementJob.root_id == parse_note_id(root))
    if status is not None:
        query = query.where(SettlementJob.status == status)
    with context.session() as session:
        return SettlementJobList(items=[job_out(job) for job in session.scalars(query)])
