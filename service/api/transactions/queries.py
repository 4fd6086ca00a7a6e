"""What `GET /v1/transactions/{hash}` reads: the node (receipt, whether it knows the transaction, the
sender's nonce), then SQL in one snapshot (the index's checkpoint and block hash, the notes the
transaction touched and which of them the caller may see, the reorganisation journal, the caller's
own idempotency record holding the transaction). Node calls go through the ledger client's error
mapping (`find_receipt`, `known`: an unreachable node is `LedgerUnavailable`, answered 503)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eth_account import Account
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from hexbytes import HexBytes
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.api.context import AppContext
from service.api.notes.queries import visibility
from service.api.problems import ProblemError
from service.api.transactions.schemas import ReorgOut, TransactionOut, TxState, WriteOut
from service.db.gateway_models import ApiMember, IdempotencyRecord, IdempotencyTransaction
from service.db.models import Block, Checkpoint, Note
from service.db.reorg_models import Reorg, ReorgTransaction
from service.indexer.reorg_journal import touched_notes
from service.indexer.state import StoredEvent
from service.ledger.nonces import pending_nonce_reader
from service.ledger.sender import tx_result

TX_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")


def parse_tx_hash(raw: str) -> str:
    """The hash in lower case; 422 `invalid-transaction-hash` unless 0x and 64 hex digits."""
    if not TX_HASH.match(raw):
        raise ProblemError(
            422,
            "invalid-transaction-hash",
            "The transaction hash is not valid",
            f"{raw[:80]!r} is not 0x followed by 64 hexadecimal digits",
        )
    return raw.lower()


def transaction_not_found(tx_hash: str) -> ProblemError:
    return ProblemError(
        404,
        "transaction-not-found",
        "No such transaction",
        f"neither the node nor the gateway knows {tx_hash} (or it is another member's, never broadcast)",
    )


@dataclass(frozen=True)
class _OnChain:
    """What the node says: the receipt (None: not mined) and whether it knows the transaction."""

    receipt: Any | None
    known: bool


def _ask_node(context: AppContext, tx_hash: str) -> _OnChain:
    sender = context.ledger.sender
    receipt = sender.find_receipt(tx_hash)
    return _OnChain(receipt, receipt is not None or sender.known(tx_hash))


def transaction_fate(context: AppContext, member: ApiMember, tx_hash: str) -> TransactionOut:
    """The fate of `tx_hash` as `member` may see it (see `TransactionOut`): the node is asked
    first, then SQL in one snapshot, then (for a transaction of the caller's that the node does not
    know) the sender's nonce; no database connection is held while the node is asked."""
    node = _ask_node(context, tx_hash)
    answer, raw = context.read(
        lambda session: _answer(context, session, member, tx_hash, node), snapshot=True
    )
    if answer.state == "signed":
        answer.state = _unbroadcast_state(context, raw)
    return answer


def _answer(
    context: AppContext, session: Session, member: ApiMember, tx_hash: str, node: _OnChain
) -> tuple[TransactionOut, bytes | None]:
    """The answer from what the node said and SQL; state `signed` (and the raw transaction) for a
    caller's transaction the node does not know, to be told from `dropped` by its nonce."""
    own = _own_write(session, member, tx_hash)
    reorg = _latest_reorg(session, tx_hash)
    answer = TransactionOut(hash=tx_hash, state="pending", write=own.out if own else None)
    if reorg is not None:
        journal, removed_in = reorg
        answer.reorg = ReorgOut(
            fork_block=journal.fork_block,
            old_block=removed_in.block_number,
            detected_at=_utc(journal.detected_at),
        )
    if node.receipt is not None:
        block = int(node.receipt["blockNumber"])
        answer.block_number = block
        if int(node.receipt["status"]) != 1:
            answer.state = "failed"
            return answer, None
        indexed = _indexed(context, session, block, _hex(node.receipt["blockHash"]))
        answer.state = "indexed" if indexed else "mined"
        events = context.ledger.events
        result = tx_result(node.receipt, {context.ledger.address: events})
        touched = {
            int(n)
            for e in result.events
            for n in touched_notes(StoredEvent(e.name, block, 0, tx_hash, dict(e.args), e.args.get("noteId")))
        }
        answer.note_ids = _visible(session, member, touched)
        return answer, None
    if node.known:
        return answer, None  # pending
    if reorg is not None:
        answer.state = "reverted-by-reorg"
        answer.block_number = reorg[1].block_number
        notes = [int(n) for n in reorg[1].note_ids]
        answer.note_ids = [str(n) for n in sorted(notes)] if own else _visible(session, member, notes)
        return answer, None
    if own is None:
        raise transaction_not_found(tx_hash)
    answer.state = "signed"
    return answer, own.raw


@dataclass(frozen=True)
class _OwnWrite:
    out: WriteOut
    raw: bytes | None


def _own_write(session: Session, member: ApiMember, tx_hash: str) -> _OwnWrite | None:
    """The caller's idempotency record that signed `tx_hash` (None if none, or another member's)."""
    record = session.scalars(
        select(IdempotencyRecord)
        .join(IdempotencyTransaction, IdempotencyTransaction.record_id == IdempotencyRecord.id)
        .where(IdempotencyTransaction.tx_hash == tx_hash, IdempotencyRecord.member_id == member.id)
    ).first()
    if record is None:
        return None
    raw = next(
        (
            bytes.fromhex(entry["raw"][2:])
            for entry in record.transactions or []
            if str(entry.get("hash", "")).lower() == tx_hash
        ),
        None,
    )
    out = WriteOut(
        idempotency_key=record.key,
        method=record.method,
        path=record.path,
        finished=record.status_code is not None,
        status=record.status_code,
    )
    return _OwnWrite(out, raw)


def _latest_reorg(session: Session, tx_hash: str) -> tuple[Reorg, ReorgTransaction] | None:
    row = session.execute(
        select(Reorg, ReorgTransaction)
        .join(ReorgTransaction, ReorgTransaction.reorg_id == Reorg.id)
        .where(ReorgTransaction.tx_hash == tx_hash)
        .order_by(Reorg.id.desc())
        .limit(1)
    ).first()
    return None if row is None else (row[0], row[1])


def _indexed(context: AppContext, session: Session, block: int, block_hash: str) -> bool:
    """Whether the index holds `block` of this branch: the checkpoint is at or past it and the
    index's hash of that block (if it still keeps it) is the receipt's."""
    last = session.scalar(
        select(Checkpoint.last_block).where(Checkpoint.contract == context.indexer.contract)
    )
    if last is None or last < block:
        return False
    kept = session.scalar(select(Block.hash).where(Block.number == block))
    return kept is None or kept.lower() == block_hash.lower()


def _visible(session: Session, member: ApiMember, note_ids: Iterable[int]) -> list[str]:
    """Those of `note_ids` (existing notes) that `member` may see, as strings, in order."""
    wanted = sorted(set(note_ids))
    if not wanted:
        return []
    stmt = select(Note.id).where(Note.id.in_(wanted))
    rule = visibility(member)
    if rule is not None:
        stmt = stmt.where(rule)
    return [str(n) for n in sorted(session.scalars(stmt))]


def _unbroadcast_state(context: AppContext, raw: bytes | None) -> TxState:
    """A transaction the gateway signed that the node does not know: `dropped` if its nonce is
    taken (by a mined or pending transaction), else `signed`."""
    if raw is None:
        return "dropped"
    sender = Account.recover_transaction(raw)
    nonce = int(TypedTransaction.from_bytes(HexBytes(raw)).as_dict()["nonce"])  # the gateway signs EIP-1559
    taken = pending_nonce_reader(context.chain.w3)(sender) > nonce
    return "dropped" if taken else "signed"


def _hex(value: Any) -> str:
    return value.to_0x_hex() if hasattr(value, "to_0x_hex") else str(value)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
