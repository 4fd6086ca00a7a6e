"""Settlement jobs: a root settlement that needs more than one `settleRoot` batch runs in the
background of the gateway instead of inside one long request.

A job is a SQL row (`SettlementJob`). Any gateway process runs it: the process that created it is
woken at once; every process also looks for unfinished jobs every `settlement_job_poll_seconds`
(so a job left by a process that died is resumed by the next one that starts or polls). A job runs
in one process at a time: its runner holds the job's `ProcessLocks` lock (a PostgreSQL advisory
lock across processes, released if the process dies), taken without waiting.

Each step reads the tree's payable notes (active or overdue, unfrozen) from the index at or after
`next_index`, takes the first window of at most 200 indices (`settle_batches`), records it as
pending, sends `settleRoot` signed by the obligor's custodial key, then records the receipt (its
payments, the transaction) and moves `next_index` past the window, in one SQL transaction. After
maturity a tree no longer changes shape (no split or transfer of a matured note), so the windows
still ahead never shift. A batch sent again after a crash pays nothing twice: `settleRoot` pays only
unpaid live notes. What such a batch paid before the crash is recovered from the index when the job
resumes (the payments of the pending window's notes since the job began that no recorded
transaction made).

A refusal of the ledger (e.g. the obligor's allowance ran short) fails the job with its
problem+json; the node or database being away is waited out (the job stays `running`, `attempts`
counts the failures in a row, and after `MAX_ATTEMPTS` it fails).
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.api.context import AppContext
from service.api.problems import ProblemError, ledger_problem
from service.api.writes import send
from service.background import BackgroundThread
from service.db.gateway_models import ApiMember, SettlementJob, utcnow
from service.db.models import Note, Payment
from service.domain import MAX_SETTLE_BATCH, PAYABLE, note_index
from service.indexer.indexer import TRANSIENT_ERRORS
from service.ledger.errors import LedgerError, LedgerRevert, TransactionTimeout
from service.ledger.types import TxResult

log = logging.getLogger("credchain.settlement_jobs")

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
UNFINISHED = (QUEUED, RUNNING)
MAX_ATTEMPTS = 20
"""Transient failures in a row (node or database away) after which a job fails."""
_RETRIED: tuple[type[BaseException], ...] = (*TRANSIENT_ERRORS, TransactionTimeout)
"""Waited out: the node or database away, a receipt late (the batch is sent again: harmless)."""
_PAYABLE = [int(s) for s in PAYABLE]


def lock_name(job_id: str) -> str:
    return f"settlement-job:{job_id}"


def settle_batches(indices: list[int], batch: int = MAX_SETTLE_BATCH) -> list[tuple[int, int]]:
    """(first index, count) windows of at most `batch` indices covering every index in `indices`
    (sorted), each starting at an index to pay and ending at the last one it covers."""
    windows: list[tuple[int, int]] = []
    i = 0
    while i < len(indices):
        first = indices[i]
        j = i
        while j + 1 < len(indices) and indices[j + 1] < first + batch:
            j += 1
        windows.append((first, indices[j] - first + 1))
        i = j + 1
    return windows


def payable_indices(session: Session, root_id: int, from_index: int = 0) -> list[tuple[int, int]]:
    """(tree index, remaining amount) of the tree's notes `settleRoot` would pay, from `from_index`."""
    rows = session.execute(
        select(Note.id, Note.amount, Note.paid_amount)
        .where(
            Note.root_id == root_id,
            Note.id >= root_id | from_index,
            Note.status.in_(_PAYABLE),
            Note.frozen.is_(False),
        )
        .order_by(Note.id)
    ).all()
    return [(note_index(int(note_id)), int(amount) - int(paid or 0)) for note_id, amount, paid in rows]


def active_job(session: Session, root_id: int) -> SettlementJob | None:
    """The unfinished job of a tree, if any."""
    return session.scalars(select(SettlementJob).where(SettlementJob.active_root_id == root_id)).first()


def create_job(
    context: AppContext, member: ApiMember, root: Note, windows: list[tuple[int, int]], total: int, notes: int
) -> tuple[SettlementJob, bool]:
    """A queued job settling `root`'s tree for its obligor `member`; (the job, whether it is new).
    If the tree already has an unfinished job, that one (one job per tree at a time)."""
    head = context.head_block()
    now = utcnow()
    job = SettlementJob(
        id="sj_" + secrets.token_hex(8),
        root_id=root.id,
        active_root_id=root.id,
        member_id=member.id,
        obligor=member.address,
        currency=root.currency,
        status=QUEUED,
        next_index=0,
        pending_first=None,
        pending_count=None,
        created_block=head,
        batches_done=0,
        batches_total=len(windows),
        notes_total=notes,
        amount_total=total,
        notes_paid=0,
        amount_paid=0,
        tx_hashes=[],
        error=None,
        attempts=0,
        created_at=now,
        updated_at=now,
    )
    with context.session() as session:
        session.add(job)
        try:
            session.commit()
        except IntegrityError:  # another request created the tree's job meanwhile
            session.rollback()
            existing = active_job(session, root.id)
            if existing is None:
                raise
            session.expunge(existing)
            return existing, False
        session.refresh(job)
        session.expunge(job)
    runner = context.settlement_jobs
    if runner is not None:
        runner.wake()
    return job, True


def _paid_events(result: TxResult) -> list[tuple[int, int]]:
    return [(int(e.args["noteId"]), int(e.args["amount"])) for e in result.events if e.name == "NotePaid"]


class SettlementJobRunner(BackgroundThread):
    """Runs this process's share of the settlement jobs in one background thread."""

    thread_name = "credchain-settlement-jobs"

    def __init__(self, context: AppContext, poll_seconds: float | None = None) -> None:
        super().__init__()
        self._context = context
        self._poll = (
            poll_seconds if poll_seconds is not None else context.settings.settlement_job_poll_seconds
        )
        self._wake = threading.Event()
        self.send: Callable[[AppContext, ApiMember, SettlementJob, int, int], TxResult] = _send_batch
        """How a batch is sent (tests replace it to simulate a crash)."""

    # ------------------------------------------------------------------ the thread
    def stop(self, timeout: float = 30.0) -> None:
        super().stop(timeout)

    def _stopping(self) -> None:
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.run_pending()
            except Exception:  # keep running: one bad job must not stop the others for good
                log.exception("settlement jobs: unexpected error")
            self._wake.wait(self._poll)  # a job waiting out a failure is tried again next time

    # ------------------------------------------------------------------ the work
    def run_pending(self) -> bool:
        """Run every unfinished job no other process is running, oldest first; whether one of them
        is waiting out a transient failure."""
        with self._context.session() as session:
            ids = list(
                session.scalars(
                    select(SettlementJob.id)
                    .where(SettlementJob.status.in_(UNFINISHED))
                    .order_by(SettlementJob.created_at, SettlementJob.id)
                )
            )
        waiting = False
        for job_id in ids:
            if self._stop.is_set():
                break
            with self._context.locks.hold(lock_name(job_id), timeout=0) as held:
                if held:
                    waiting = not self.run_job(job_id) or waiting
        return waiting

    def run_job(self, job_id: str, max_batches: int | None = None) -> bool:
        """Run one job (the caller holds its lock) until it is done or failed, or `max_batches`
        were sent; False if it stopped on a transient failure (to be tried again)."""
        sent = 0
        while not self._stop.is_set():
            if max_batches is not None and sent >= max_batches:
                return True
            try:
                more = self._step(job_id)
            except _RETRIED as exc:
                self._transient(job_id, exc)
                return False
            if not more:
                return True
            sent += 1
        return True

    def _step(self, job_id: str) -> bool:
        """Send the job's next batch and record it; False once there is nothing more to do."""
        context = self._context
        with context.session() as session:
            job = session.get(SettlementJob, job_id)
            if job is None or job.status not in UNFINISHED:
                return False
            if job.pending_first is not None:
                self._recover(session, job)
            payable = payable_indices(session, job.root_id, job.next_index)
            windows = settle_batches([index for index, _ in payable])
            if not windows:
                self._finish(session, job, DONE)
                return False
            member = session.get(ApiMember, job.member_id)
            if member is None:
                problem = ProblemError(409, "obligor-gone", "The obligor's gateway member no longer exists")
                self._finish(session, job, FAILED, problem.body())
                return False
            first, count = windows[0]
            job.status = RUNNING
            job.pending_first, job.pending_count = first, count
            job.batches_total = job.batches_done + len(windows)
            job.updated_at = utcnow()
            session.commit()
            session.refresh(job)
            session.expunge(job)
            session.expunge(member)
        try:
            result = self.send(context, member, job, first, count)
        except LedgerRevert as exc:
            with context.session() as session:
                failed = session.get(SettlementJob, job_id)
                assert failed is not None
                self._finish(session, failed, FAILED, ledger_problem(exc).body())
            log.warning("settlement job %s failed: %s", job_id, exc)
            return False
        except ProblemError as exc:  # e.g. the obligor is self-custodied now
            with context.session() as session:
                failed = session.get(SettlementJob, job_id)
                assert failed is not None
                self._finish(session, failed, FAILED, exc.body())
            return False
        with context.session() as session:
            done = session.get(SettlementJob, job_id)
            assert done is not None
            self._record(done, result.tx_hash, _paid_events(result))
            done.next_index = first + count
            done.pending_first = done.pending_count = None
            done.attempts = 0
            done.error = None
            remaining_windows = len(windows) - 1
            done.batches_total = done.batches_done + remaining_windows
            done.updated_at = utcnow()
            session.commit()
        log.info("settlement job %s: batch [%s, %s) paid in %s", job_id, first, first + count, result.tx_hash)
        return True

    @staticmethod
    def _record(job: SettlementJob, tx_hash: str, paid: list[tuple[int, int]]) -> None:
        job.batches_done += 1
        job.notes_paid += len(paid)
        job.amount_paid = int(job.amount_paid) + sum(amount for _, amount in paid)
        job.tx_hashes = [*job.tx_hashes, tx_hash]

    def _recover(self, session: Session, job: SettlementJob) -> None:
        """A batch was pending when the job stopped: record what the index shows it paid (if it was
        mined), and count it as sent once its window is behind us."""
        context = self._context
        head = context.head_block()
        context.wait_indexed(head)
        first = int(job.pending_first or 0)
        count = int(job.pending_count or 0)
        low, high = job.root_id | first, job.root_id | (first + count - 1)
        rows = session.execute(
            select(Payment.tx_hash, Payment.note_id, Payment.amount)
            .where(
                Payment.root_id == job.root_id,
                Payment.note_id >= low,
                Payment.note_id <= high,
                Payment.block_number >= job.created_block,
                Payment.payment_reference.is_(None),
                Payment.obligor == job.obligor,
            )
            .order_by(Payment.block_number, Payment.log_index)
        ).all()
        by_tx: dict[str, list[tuple[int, int]]] = {}
        for tx_hash, note_id, amount in rows:
            if tx_hash not in job.tx_hashes:
                by_tx.setdefault(str(tx_hash), []).append((int(note_id), int(amount)))
        for tx_hash, paid in by_tx.items():
            self._record(job, tx_hash, paid)
            log.info("settlement job %s: recovered batch %s (%s notes)", job.id, tx_hash, len(paid))
        if by_tx:
            job.next_index = first + count
        job.pending_first = job.pending_count = None
        session.flush()

    @staticmethod
    def _finish(
        session: Session, job: SettlementJob, status: str, error: dict[str, Any] | None = None
    ) -> None:
        now = utcnow()
        job.status = status
        job.active_root_id = None
        job.pending_first = job.pending_count = None
        job.error = error
        job.finished_at = now
        job.updated_at = now
        if status == DONE:
            job.batches_total = job.batches_done
        session.commit()

    def _transient(self, job_id: str, exc: BaseException) -> None:
        problem = ledger_problem(exc) if isinstance(exc, LedgerError) else None
        body = problem.body() if problem is not None else {"title": type(exc).__name__, "detail": str(exc)}
        log.warning("settlement job %s: %s: %s; will retry", job_id, type(exc).__name__, exc)
        try:
            with self._context.session() as session:
                job = session.get(SettlementJob, job_id)
                if job is None:
                    return
                job.attempts += 1
                job.error = body
                job.updated_at = utcnow()
                if job.attempts >= MAX_ATTEMPTS:
                    self._finish(session, job, FAILED, body)
                else:
                    session.commit()
        except TRANSIENT_ERRORS:
            log.warning("settlement job %s: could not record the failure", job_id, exc_info=True)


def _send_batch(
    context: AppContext, member: ApiMember, job: SettlementJob, first: int, count: int
) -> TxResult:
    result, _indexed = send(
        context, member, lambda account: context.ledger.settle_root(account, job.root_id, first, count)
    )
    return result
