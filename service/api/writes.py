"""Ledger writes on behalf of a member: sign with its custodial key, send, wait for the index."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from eth_account.signers.local import LocalAccount
from sqlalchemy import select

from service.api.context import AppContext
from service.api.problems import ProblemError
from service.api.queries import notes_out
from service.api.schemas import WriteResult
from service.db.gateway_models import ApiMember
from service.db.models import Note
from service.ledger.client import TxResult


def signer(context: AppContext, member: ApiMember) -> LocalAccount:
    """The custodial signing key of `member`; self-custodied members sign for themselves."""
    if member.custody != "custodial" or member.encrypted_key is None:
        raise ProblemError(
            409,
            "self-custody",
            "This member holds its own keys",
            "the gateway cannot sign for a self-custodied member: build the ledger call, have the gateway "
            "prepare it (POST /v1/relay/prepare answers EIP-712 typed data), sign that with your key and "
            "send it with the signature to POST /v1/relay; the gateway relays it and pays the gas",
        )
    return context.keyring.account(member.address, member.encrypted_key)


def send(
    context: AppContext, member: ApiMember, action: Callable[[LocalAccount], TxResult]
) -> tuple[TxResult, bool]:
    """Send `action` signed by `member`; returns the result and whether the index has caught up."""
    return send_signed(context, signer(context, member), action)


def send_signed(
    context: AppContext, account: LocalAccount, action: Callable[[LocalAccount], TxResult]
) -> tuple[TxResult, bool]:
    """Send `action` signed by `account` (a member's key or the relayer's); returns the result and
    whether the index has caught up."""
    with context.write_lock():
        started = time.perf_counter()
        outcome = "error"
        try:
            result = action(account)
            outcome = "ok"
        finally:
            context.metrics.ledger_tx_seconds.labels(outcome=outcome).observe(time.perf_counter() - started)
        indexed = context.wait_indexed(result.block_number)
    return result, indexed


def note_result(context: AppContext, result: TxResult, indexed: bool, note_ids: Sequence[int]) -> WriteResult:
    """The answer of a note write: the transaction and the notes it touched, as read from SQL."""
    notes = []
    if indexed and note_ids:
        with context.session() as session:
            rows = session.scalars(select(Note).where(Note.id.in_(list(note_ids))).order_by(Note.id)).all()
            notes = notes_out(context, session, rows)
    return WriteResult(
        tx_hash=result.tx_hash,
        block_number=result.block_number,
        indexed=indexed,
        note_ids=[str(n) for n in note_ids],
        notes=notes,
    )
