"""Idempotency-Key on writes: the first answer is stored with a fingerprint of the request (method,
path, sha256 of the canonical body); a retry with the same key and body gets that answer again
without acting, a retry with a different request gets 422 `idempotency-key-reuse`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from service.api.context import AppContext
from service.api.problems import PROBLEM_JSON, ProblemError, ledger_problem
from service.db.gateway_models import ApiMember, IdempotencyRecord
from service.ledger.errors import TransactionTimeout

REPLAY_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255


def body_fingerprint(body: BaseModel | None) -> str:
    canonical = json.dumps(
        body.model_dump(mode="json") if body is not None else None, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(record: IdempotencyRecord, method: str, path: str, digest: str) -> JSONResponse:
    if (record.method, record.path, record.body_sha256) != (method, path, digest):
        raise ProblemError(
            422,
            "idempotency-key-reuse",
            "The Idempotency-Key was already used for a different request",
            f"key {record.key!r} was first used for {record.method} {record.path} with another body",
        )
    if record.status_code is None:
        raise ProblemError(
            409,
            "idempotency-key-in-use",
            "A request with this Idempotency-Key is still being processed",
            "retry later",
            headers={"Retry-After": "1"},
        )
    media_type = PROBLEM_JSON if record.status_code >= 400 else "application/json"
    return JSONResponse(
        record.response_body,
        status_code=record.status_code,
        headers={REPLAY_HEADER: "true"},
        media_type=media_type,
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
    """Run `action` (returning status and answer) at most once per (member, key)."""
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
    digest = body_fingerprint(body)
    with context.session() as session:
        existing = session.scalars(
            select(IdempotencyRecord).where(
                IdempotencyRecord.member_id == member.id, IdempotencyRecord.key == key
            )
        ).first()
        if existing is not None:
            return _replay(existing, method, path, digest)
        record = IdempotencyRecord(member_id=member.id, key=key, method=method, path=path, body_sha256=digest)
        session.add(record)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            other = session.scalars(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.member_id == member.id, IdempotencyRecord.key == key
                )
            ).one()
            return _replay(other, method, path, digest)
        record_id = record.id
    try:
        status, answer = action()
    except TransactionTimeout as exc:
        # The transaction was sent and may still be mined: keep the key, answering every retry with
        # this 504 (which names the transaction), so that a retry can never send it a second time.
        problem = ledger_problem(exc)
        _store(context, record_id, problem.status, problem.body(path))
        raise problem from exc
    except BaseException:
        with context.session() as session:
            session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))
            session.commit()
        raise
    content: Any = answer.model_dump(mode="json")
    _store(context, record_id, status, content)
    return JSONResponse(content, status_code=status)


def _store(context: AppContext, record_id: int, status: int, content: Any) -> None:
    with context.session() as session:
        stored = session.get(IdempotencyRecord, record_id)
        if stored is not None:
            stored.status_code = status
            stored.response_body = content
            session.commit()
