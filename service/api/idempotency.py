"""Idempotency-Key on writes: an action happens at most once per (member, key), whatever fails.

The first request with a key inserts a record with a fingerprint of the request (method, sha256 of
the full path, sha256 of the canonical body) and a lease (owner, expiry, refreshed while it works).
Its write (`service.api.writes.transact`) records the answer builder and its JSON inputs, then every
transaction it signs (hash and raw signed bytes) on the record *before* broadcasting it
(`service.ledger.client.journaling`). Once the answer is built it is stored (secrets left out) and
replayed to every retry with the same key and request; a retry with another request gets 422
`idempotency-key-reuse`; a retry while the lease is live gets 409 `idempotency-key-in-use` with
Retry-After.

When something fails after a broadcast (receipt poll, node, database, the process itself), the key is
never released to act again: a retry (at once if the attempt failed, after the lease expired if the
process died) resolves the recorded transactions from the chain: mined -> the answer, rebuilt by the
recorded builder from the receipts; reverted -> the revert's problem; unknown to the node -> the
recorded raw transaction broadcast again; never minable (its nonce used by another transaction) ->
nothing happened, the write runs anew. A write of several transactions interrupted between two of
them runs anew after the ones mined, its pre-checks seeing what they did, and its labelled steps
already mined are not sent again (`service.api.writes.Step`). Records expire after
`idempotency_ttl_seconds` (deleted by `purge_expired`); a retry after that is a new request.

A write whose transaction a reorganisation removed (the journal of `service.indexer.reorg_journal`;
each signed hash is kept in `idempotency_transactions` to be found by) is never re-executed nor
broadcast again: a retry answers 409 `reverted-by-reorg` (why: `_reverted_by_reorg`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Executable, delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.api.context import AppContext
from service.api.problems import (
    INSUFFICIENT_GAS,
    PROBLEM_JSON,
    RETRY_AFTER_SECONDS,
    ProblemError,
    is_database_fault,
    ledger_problem,
)
from service.api.writes import Sent, WriteJournal, find_builder
from service.db.gateway_models import ApiMember, IdempotencyRecord, IdempotencyTransaction
from service.db.reorg_models import Reorg, ReorgIdempotencyRecord
from service.indexer.reorg_journal import reverted_problem
from service.ledger.abi_codec import EventDecoder
from service.ledger.artifacts import load_artifact
from service.ledger.errors import (
    LedgerError,
    LedgerRevert,
    TransactionDropped,
    TransactionTimeout,
)
from service.ledger.sender import journaling, tx_result
from service.ledger.types import FORWARDER_CONTRACT, TOKEN_CONTRACT

log = logging.getLogger(__name__)

REPLAY_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
MAX_STORED_PATH = 500
SECRET_FIELDS = {
    "api_key": (
        "api_key_note",
        "the API key was shown once, in the first answer, and is not kept; issue a new one with "
        "`credchain keys issue <member id>`",
    )
}
"""Answer fields never stored (replays carry the note instead)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes: they are UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def body_fingerprint(body: BaseModel | None) -> str:
    canonical = json.dumps(
        body.model_dump(mode="json") if body is not None else None, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def path_fingerprint(path: str) -> str:
    return hashlib.sha256(path.encode("utf-8", errors="surrogatepass")).hexdigest()


def stored_path(path: str) -> str:
    """The path as kept on the record (for people reading it): at most `MAX_STORED_PATH` characters."""
    return path if len(path) <= MAX_STORED_PATH else path[: MAX_STORED_PATH - 1] + "…"


def without_secrets(content: Any) -> Any:
    """An answer as it may be stored and replayed: every `SECRET_FIELDS` member replaced by a note."""
    if not isinstance(content, dict):
        return content
    stored = dict(content)
    for name, (note_field, note) in SECRET_FIELDS.items():
        if stored.get(name) is not None:
            stored[name] = None
            stored[note_field] = note
    return stored


@dataclass(frozen=True)
class Fingerprint:
    method: str
    path: str
    path_sha256: str
    body_sha256: str

    def matches(self, record: IdempotencyRecord) -> bool:
        path_sha256 = record.path_sha256 or path_fingerprint(record.path)
        return (record.method, path_sha256, record.body_sha256) == (
            self.method,
            self.path_sha256,
            self.body_sha256,
        )


def _replay_response(record: IdempotencyRecord) -> JSONResponse:
    assert record.status_code is not None
    media_type = PROBLEM_JSON if record.status_code >= 400 else "application/json"
    return JSONResponse(
        record.response_body,
        status_code=record.status_code,
        headers={REPLAY_HEADER: "true"},
        media_type=media_type,
    )


def _reverted_by_reorg(
    context: AppContext, session: Session, record: IdempotencyRecord
) -> JSONResponse | None:
    """The `reverted-by-reorg` answer of a record whose transactions a reorganisation removed (the
    reorganisation journal, `service.indexer.reorg_journal`) and that are not on the chain now;
    None if there are none (the common case: one indexed look-up).

    Why not broadcast the gateway's own signed transaction again: on a permissioned (QBFT) network a
    reorganisation is an operator's event (a restore, a fork resolved by hand), and the state the
    write was checked against (the note's holder and status, the credit limit, the document) is
    gone; sending it again could act on a different state, silently. The client is told instead,
    with the transaction hashes and the fork block, and decides: check the state, send again with a
    new key. A removed transaction that is back on the chain (mined again in the new branch) is not
    reverted: the stored answer is replayed."""
    rows = session.execute(
        select(ReorgIdempotencyRecord.tx_hashes, Reorg.fork_block, Reorg.detected_at)
        .join(Reorg, Reorg.id == ReorgIdempotencyRecord.reorg_id)
        .where(
            ReorgIdempotencyRecord.record_id == record.id,
            ReorgIdempotencyRecord.member_id == record.member_id,
            ReorgIdempotencyRecord.key == record.key,
        )
        .order_by(Reorg.id)
    ).all()
    if not rows:
        return None
    removed = sorted({str(tx) for tx_hashes, _, _ in rows for tx in tx_hashes})
    gone = [tx for tx in removed if context.ledger.sender.find_receipt(tx) is None]
    if not gone:
        return None
    fork_block = min(int(fork) for _, fork, _ in rows)
    detected_at = _aware(rows[-1][2])
    assert detected_at is not None
    body = reverted_problem(gone, fork_block, detected_at)
    body["instance"] = record.path
    return JSONResponse(body, status_code=409, headers={REPLAY_HEADER: "true"}, media_type=PROBLEM_JSON)


def _in_use(seconds: float) -> ProblemError:
    return ProblemError(
        409,
        "idempotency-key-in-use",
        "A request with this Idempotency-Key is still being processed",
        "retry later",
        headers={"Retry-After": str(max(1, math.ceil(seconds)))},
    )


def run_idempotent(
    context: AppContext,
    member: ApiMember,
    key: str | None,
    method: str,
    path: str,
    body: BaseModel | None,
    action: Callable[[], tuple[int, BaseModel]],
) -> JSONResponse:
    """Run `action` (returning status and answer) at most once per (member, key); see the module."""
    if key is None:
        status, answer = action()
        return JSONResponse(answer.model_dump(mode="json"), status_code=status)
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ProblemError(
            422,
            "invalid-idempotency-key",
            "The Idempotency-Key header is not valid",
            f"it must be 1 to {MAX_KEY_LENGTH} characters",
        )
    fingerprint = Fingerprint(method, path, path_fingerprint(path), body_fingerprint(body))
    owner = uuid.uuid4().hex
    claimed = _claim(context, member, key, fingerprint, owner)
    if isinstance(claimed, JSONResponse):
        return claimed
    record_id, resolving = claimed
    with LeaseKeeper(context, record_id, owner):
        prior: list[Sent] = []
        if resolving:
            try:
                resolved = _resolve(context, record_id, owner, path)
            except BaseException:
                _release(context, record_id, owner)  # a no-op once an answer was stored
                raise
            if isinstance(resolved, JSONResponse):
                return resolved
            prior = resolved
        return _run(context, record_id, owner, path, action, prior)


# ------------------------------------------------------------------ claiming the key
def _claim(
    context: AppContext, member: ApiMember, key: str, fingerprint: Fingerprint, owner: str
) -> tuple[int, bool] | JSONResponse:
    """Insert the record (-> its id, False), take over one whose lease expired (-> id, True), or
    answer a finished one's replay; 422 for another request with this key, 409 while it runs."""
    lease = timedelta(seconds=context.settings.idempotency_lease_seconds)
    ttl = timedelta(seconds=context.settings.idempotency_ttl_seconds)
    for _ in range(5):
        now = utcnow()
        with context.session() as session:
            # a new key is the common case: insert first (one statement), look only if it exists
            record = IdempotencyRecord(
                member_id=member.id,
                key=key,
                method=fingerprint.method,
                path=stored_path(fingerprint.path),
                path_sha256=fingerprint.path_sha256,
                body_sha256=fingerprint.body_sha256,
                lease_owner=owner,
                lease_expires_at=now + lease,
                transactions=[],
                created_at=now,
                expires_at=now + ttl,
            )
            session.add(record)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
            else:
                return record.id, False
            existing = session.scalars(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.member_id == member.id, IdempotencyRecord.key == key
                )
            ).first()
            if existing is None:  # deleted meanwhile (failed before broadcasting, or expired)
                continue
            if _expired(existing, now):
                session.execute(
                    delete(IdempotencyRecord).where(
                        IdempotencyRecord.id == existing.id,
                        IdempotencyRecord.lease_owner.is_(None)
                        if existing.lease_owner is None
                        else IdempotencyRecord.lease_owner == existing.lease_owner,
                    )
                )
                session.commit()
                continue
            if not fingerprint.matches(existing):
                raise ProblemError(
                    422,
                    "idempotency-key-reuse",
                    "The Idempotency-Key was already used for a different request",
                    f"key {existing.key!r} was first used for {existing.method} {existing.path} "
                    "with another body",
                )
            if existing.status_code is not None:
                return _reverted_by_reorg(context, session, existing) or _replay_response(existing)
            expires = _aware(existing.lease_expires_at)
            if expires is not None and expires > now:
                # the write may finish any moment: ask again soon, not when the lease would expire
                raise _in_use(min((expires - now).total_seconds(), RETRY_AFTER_SECONDS))
            taken = session.execute(
                update(IdempotencyRecord)
                .where(
                    IdempotencyRecord.id == existing.id,
                    IdempotencyRecord.status_code.is_(None),
                    IdempotencyRecord.lease_owner.is_(None)
                    if existing.lease_owner is None
                    else IdempotencyRecord.lease_owner == existing.lease_owner,
                )
                .values(lease_owner=owner, lease_expires_at=now + lease)
            )
            session.commit()
            if _rowcount(taken) == 1:
                log.info(
                    "idempotency key taken over",
                    extra={
                        "record": existing.id,
                        "member": member.id,
                        "previous_owner": existing.lease_owner,
                    },
                )
                return existing.id, True
    raise _in_use(RETRY_AFTER_SECONDS)


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0))


def _expired(record: IdempotencyRecord, now: datetime) -> bool:
    expires = _aware(record.expires_at)
    lease = _aware(record.lease_expires_at)
    return expires is not None and expires <= now and (lease is None or lease <= now)


# ------------------------------------------------------------------ the lease
class LeaseKeeper:
    """Refreshes the record's lease every third of its length while the write works, so that only a
    dead process's lease expires."""

    def __init__(self, context: AppContext, record_id: int, owner: str) -> None:
        self._context = context
        self._record_id = record_id
        self._owner = owner
        self._seconds = context.settings.idempotency_lease_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="credchain-idempotency-lease", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._seconds / 3):
            try:
                with self._context.session() as session:
                    session.execute(
                        update(IdempotencyRecord)
                        .where(
                            IdempotencyRecord.id == self._record_id,
                            IdempotencyRecord.lease_owner == self._owner,
                        )
                        .values(lease_expires_at=utcnow() + timedelta(seconds=self._seconds))
                    )
                    session.commit()
            except Exception:  # the database is away: the next refresh may work
                log.warning("idempotency lease not refreshed", exc_info=True)


class LeaseLost(Exception):
    """Another request took the key over (this one's lease had expired): nothing more is sent."""


# ------------------------------------------------------------------ the journal
class RecordJournal(WriteJournal):
    """The journal of one idempotent write: its record, under this request's lease. Each signed
    transaction costs one conditional UPDATE before it is broadcast (with the answer builder and its
    inputs the first time)."""

    def __init__(
        self,
        context: AppContext,
        record_id: int,
        owner: str,
        prior: list[Sent],
        recorded: list[dict[str, Any]] | None = None,
    ) -> None:
        self._context = context
        self._record_id = record_id
        self._owner = owner
        self._prior = prior
        self._recorded = list(recorded or [])
        self._plan: dict[str, Any] = {}
        self._label: dict[str, Any] = {}
        self._last = False

    def sent(self) -> list[Sent]:
        return list(self._prior)

    def recorded(self) -> list[dict[str, Any]]:
        """The transactions on the record as this request last wrote them (known without asking
        the database)."""
        return list(self._recorded)

    def plan(self, builder: str, inputs: dict[str, Any]) -> None:
        self._plan = {"answer_builder": builder, "answer_inputs": inputs}

    def label(self, label: dict[str, Any], *, last: bool) -> None:
        self._label = label
        self._last = last

    def before_broadcast(self, tx_hash: str, raw: bytes) -> None:
        entry = {"hash": tx_hash, "raw": "0x" + raw.hex(), "step": self._label, "last": self._last}
        recorded = [*self._recorded, entry]
        lease = timedelta(seconds=self._context.settings.idempotency_lease_seconds)
        with self._context.session() as session:
            # only while this request still holds the lease: a request that took the key over
            # either sees this transaction or this request never broadcasts it
            done = session.execute(
                update(IdempotencyRecord)
                .where(IdempotencyRecord.id == self._record_id, IdempotencyRecord.lease_owner == self._owner)
                .values(transactions=recorded, lease_expires_at=utcnow() + lease, **self._plan)
            )
            if _rowcount(done) == 1:  # the hash, to find the write by (transactions, reorg journal)
                session.execute(record_transaction(session, tx_hash, self._record_id))
            session.commit()
        if _rowcount(done) != 1:
            raise LeaseLost(f"idempotency record {self._record_id} is no longer this request's")
        self._recorded = recorded
        self._plan = {}
        self._label, self._last = {}, False

    def refused(self, tx_hash: str) -> None:
        """The node refused `tx_hash` outright (its sender cannot pay for the gas): it is taken off
        the record, which then holds only what the node accepted; a record left with nothing is
        deleted when the attempt fails (`_failed`), so the same key may run the write anew."""
        recorded = [entry for entry in self._recorded if entry["hash"] != tx_hash]
        with self._context.session() as session:
            done = session.execute(
                update(IdempotencyRecord)
                .where(IdempotencyRecord.id == self._record_id, IdempotencyRecord.lease_owner == self._owner)
                .values(transactions=recorded)
            )
            if _rowcount(done) == 1:
                session.execute(
                    delete(IdempotencyTransaction).where(
                        IdempotencyTransaction.tx_hash == tx_hash,
                        IdempotencyTransaction.record_id == self._record_id,
                    )
                )
            session.commit()
        self._recorded = recorded


def record_transaction(session: Session, tx_hash: str, record_id: int) -> Executable:
    """The INSERT of `tx_hash` into `idempotency_transactions`, kept if already there (a write run
    anew may sign the very same transaction again)."""
    values = {"tx_hash": tx_hash, "record_id": record_id}
    if session.get_bind().dialect.name == "postgresql":
        return postgresql_insert(IdempotencyTransaction).values(values).on_conflict_do_nothing()
    return sqlite_insert(IdempotencyTransaction).values(values).on_conflict_do_nothing()


def _recorded(context: AppContext, record_id: int) -> list[dict[str, Any]]:
    with context.session() as session:
        record = session.get(IdempotencyRecord, record_id)
        return list(record.transactions or []) if record is not None else []


# ------------------------------------------------------------------ running and finishing
def _run(
    context: AppContext,
    record_id: int,
    owner: str,
    path: str,
    action: Callable[[], tuple[int, BaseModel]],
    prior: list[Sent],
) -> JSONResponse:
    journal = RecordJournal(context, record_id, owner, prior, _recorded(context, record_id) if prior else [])
    try:
        with journaling(journal):
            status, answer = action()
    except BaseException as exc:
        _failed(context, record_id, owner, path, exc, journal.recorded())
        raise
    content: Any = answer.model_dump(mode="json")
    _finish(context, record_id, owner, status, content)
    return JSONResponse(content, status_code=status)


def _failed(
    context: AppContext,
    record_id: int,
    owner: str,
    path: str,
    exc: BaseException,
    journaled: list[dict[str, Any]],
) -> None:
    """After an attempt failed: with nothing ever broadcast the record goes (the write never
    happened; the key may be used again); after a revert its problem is the final answer; else the
    record is kept for a retry to resolve from the chain (the lease released: at once), and a
    ledger or database failure's problem says so, with the transactions sent (`journaled`: as this
    request recorded them, for when the database cannot be asked)."""
    try:
        recorded = _recorded(context, record_id)
    except Exception as lookup:
        if not journaled or not is_database_fault(lookup):
            raise
        # the database is away: the record keeps its transactions and its lease, which expires;
        # the retry after that resolves them from the chain
        raise _pending_problem(lookup, journaled) from exc
    if not recorded:
        with context.session() as session:
            session.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.id == record_id, IdempotencyRecord.lease_owner == owner
                )
            )
            session.commit()
        return
    if isinstance(exc, ProblemError) and exc.slug == INSUFFICIENT_GAS:
        # not final: the operator tops the account up, then the same key resumes the write after
        # the steps an earlier attempt had mined
        _release(context, record_id, owner)
        return
    if isinstance(exc, LedgerRevert | ProblemError):
        problem = ledger_problem(exc) if isinstance(exc, LedgerRevert) else exc
        _finish(context, record_id, owner, problem.status, problem.body(path))
        return
    _release(context, record_id, owner)
    if isinstance(exc, LedgerError) or is_database_fault(exc):
        raise _pending_problem(exc, recorded) from exc


def _pending_problem(exc: BaseException, recorded: list[dict[str, Any]]) -> ProblemError:
    """The 503 (504 for a receipt not there in time) of a write whose transactions were sent but
    whose outcome is not known or could not be answered: they are named, and the retry resolves
    them. A database fault's own words are not shown (they may name the server)."""
    hashes = [entry["hash"] for entry in recorded]
    retry = (
        f"sent: {', '.join(hashes)}. Retry with the same Idempotency-Key: the outcome is then "
        "read from the ledger, the transaction is never sent twice"
    )
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if not isinstance(exc, LedgerError):
        return ProblemError(
            503,
            "database-unavailable",
            "The database cannot be reached",
            f"the gateway's database failed after the write was sent; {retry}",
            headers=headers,
            tx_hashes=hashes,
        )
    detail = f"{exc}; {retry}"
    if isinstance(exc, TransactionTimeout):
        return ProblemError(
            504,
            "transaction-timeout",
            "The transaction was sent but not mined in time",
            detail,
            headers=headers,
            tx_hashes=hashes,
        )
    if isinstance(exc, TransactionDropped):  # e.g. a reorganisation removed it while it waited
        return ProblemError(
            503,
            "transaction-dropped",
            "The transaction was sent but the node no longer has it",
            detail,
            headers=headers,
            tx_hashes=hashes,
        )
    return ProblemError(
        503,
        "ledger-unavailable",
        "The ledger node cannot be reached",
        detail,
        headers=headers,
        tx_hashes=hashes,
    )


def _release(context: AppContext, record_id: int, owner: str) -> None:
    """Let the next retry take the key over at once (its transactions are kept)."""
    try:
        with context.session() as session:
            session.execute(
                update(IdempotencyRecord)
                .where(IdempotencyRecord.id == record_id, IdempotencyRecord.lease_owner == owner)
                .values(lease_owner=None, lease_expires_at=None)
            )
            session.commit()
    except Exception:  # the lease then expires by itself
        log.warning("idempotency lease not released", exc_info=True)


def _finish(context: AppContext, record_id: int, owner: str, status: int, content: Any) -> None:
    with context.session() as session:
        session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.id == record_id, IdempotencyRecord.lease_owner == owner)
            .values(
                status_code=status,
                response_body=without_secrets(content),
                answer_inputs=None,  # needed no more (they may hold an encrypted custodial key)
                lease_owner=None,
                lease_expires_at=None,
            )
        )
        session.commit()


# ------------------------------------------------------------------ resolving from the chain
def _resolve(context: AppContext, record_id: int, owner: str, path: str) -> JSONResponse | list[Sent]:
    """The outcome of an earlier attempt whose process died or whose node hiccuped: its answer
    (rebuilt from the chain) if its write is complete, else the transactions it had mined, for the
    write to run anew after them (with none: nothing happened)."""
    with context.session() as session:
        record = session.get(IdempotencyRecord, record_id)
        assert record is not None
        recorded = list(record.transactions or [])
        builder, inputs = record.answer_builder, dict(record.answer_inputs or {})
        reverted = _reverted_by_reorg(context, session, record)
    if reverted is not None:  # not broadcast again: see `_reverted_by_reorg`
        _finish(context, record_id, owner, reverted.status_code, json.loads(bytes(reverted.body)))
        return reverted
    if not recorded:
        return []
    mined: list[tuple[dict[str, Any], Any]] = []
    kept: list[dict[str, Any]] = []
    try:
        for entry in recorded:
            try:
                receipt = context.ledger.sender.resolve(entry["hash"], bytes.fromhex(entry["raw"][2:]))
            except TransactionDropped as exc:
                log.warning("recorded transaction dropped", extra={"record": record_id, "error": str(exc)})
                continue
            mined.append((entry, receipt))
            kept.append(entry)
    except LedgerRevert as exc:
        problem = ledger_problem(exc)
        _finish(context, record_id, owner, problem.status, problem.body(path))
        return JSONResponse(
            problem.body(path), status_code=problem.status, headers=problem.headers, media_type=PROBLEM_JSON
        )
    except LedgerError as exc:
        raise _pending_problem(exc, recorded) from exc
    if len(kept) != len(recorded):
        with context.session() as session:
            record = session.get(IdempotencyRecord, record_id)
            assert record is not None
            record.transactions = kept
            session.commit()
    indexed = context.wait_indexed(max(int(r["blockNumber"]) for _, r in mined)) if mined else True
    decoders = _decoders(context, [receipt for _, receipt in mined])
    sent = [
        Sent(tx_result(receipt, decoders), indexed, dict(entry.get("step") or {})) for entry, receipt in mined
    ]
    complete = any(entry.get("last") for entry, _ in mined)
    if not complete or builder is None:
        log.info("idempotent write runs anew", extra={"record": record_id, "mined": len(sent)})
        return sent
    try:
        status, answer = find_builder(builder)(context, inputs, sent)
    except LedgerError as exc:  # e.g. the node away while the answer reads a balance
        raise _pending_problem(exc, recorded) from exc
    content: Any = answer.model_dump(mode="json")
    _finish(context, record_id, owner, status, content)
    return JSONResponse(content, status_code=status, headers={REPLAY_HEADER: "true"})


def _decoders(context: AppContext, receipts: list[Any]) -> dict[str, EventDecoder]:
    """Event decoders by address for `receipts`: the ledger's, and for any other contract the
    settlement token's and the forwarder's events."""
    other = EventDecoder(load_artifact(TOKEN_CONTRACT).abi + load_artifact(FORWARDER_CONTRACT).abi)
    decoders: dict[str, EventDecoder] = {}
    for receipt in receipts:
        for entry in receipt["logs"]:
            decoders[entry["address"]] = other
    decoders[context.ledger.address] = context.ledger.events
    return decoders


# ------------------------------------------------------------------ expiry
