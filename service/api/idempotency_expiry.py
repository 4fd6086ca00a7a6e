"""Expiry of idempotency records: `purge_expired` in bounded batches, and the background sweeper that
runs it every `idempotency_sweep_seconds`."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import delete, select

from service.api.context import AppContext
from service.api.idempotency import utcnow
from service.background import BackgroundThread
from service.db.gateway_models import IdempotencyRecord

log = logging.getLogger("service.api.idempotency")  # the journal's logger, as before the split


def purge_expired(context: AppContext, *, batch: int, now: datetime | None = None, rounds: int = 10) -> int:
    """Delete expired records (not leased), at most `batch` per statement and `rounds` statements;
    how many went."""
    moment = now or utcnow()
    total = 0
    for _ in range(rounds):
        with context.session() as session:
            ids = list(
                session.scalars(
                    select(IdempotencyRecord.id)
                    .where(
                        IdempotencyRecord.expires_at <= moment,
                        (IdempotencyRecord.lease_expires_at.is_(None))
                        | (IdempotencyRecord.lease_expires_at <= moment),
                    )
                    .order_by(IdempotencyRecord.expires_at)
                    .limit(batch)
                )
            )
            if ids:
                session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id.in_(ids)))
                session.commit()
        total += len(ids)
        if len(ids) < batch:
            break
    return total


class IdempotencySweeper(BackgroundThread):
    """Deletes expired idempotency records every `idempotency_sweep_seconds`, in bounded batches
    (`idempotency_sweep_batch` per statement), in a background thread of the gateway."""

    thread_name = "credchain-idempotency-sweeper"

    def __init__(self, context: AppContext) -> None:
        super().__init__()
        self._context = context

    def _run(self) -> None:
        settings = self._context.settings
        while not self._stop.wait(settings.idempotency_sweep_seconds):
            try:
                deleted = purge_expired(self._context, batch=settings.idempotency_sweep_batch)
            except Exception:  # the database is away: the next sweep may work
                log.warning("idempotency sweep failed", exc_info=True)
                continue
            if deleted:
                log.info("expired idempotency records deleted", extra={"deleted": deleted})
