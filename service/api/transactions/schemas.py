"""The answer of `GET /v1/transactions/{hash}`."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

TxState = Literal["pending", "mined", "indexed", "failed", "reverted-by-reorg", "dropped", "signed"]


class ReorgOut(BaseModel):
    """The reorganisation that removed the transaction from the chain."""

    fork_block: int = Field(description="The highest block kept; the transaction's block was above it")
    old_block: int = Field(description="The block the transaction had been mined in")
    detected_at: datetime


class WriteOut(BaseModel):
    """The caller's own idempotent write this transaction belongs to (never another member's)."""

    idempotency_key: str
    method: str
    path: str
    finished: bool = Field(description="Whether the write's answer is final (replayed to retries)")
    status: int | None = Field(description="The final answer's HTTP status, once finished")


class TransactionOut(BaseModel):
    """What became of a transaction.

    `pending`: known to the node, not mined. `mined`: mined, not yet in the index. `indexed`: mined
    and applied to the index. `failed`: mined and reverted by the contract. `reverted-by-reorg`: was
    mined, then removed by a reorganisation (`reorg`). `dropped`: signed by the gateway for the
    caller, unknown to the node, its nonce taken by another transaction (it can never be mined).
    `signed`: signed by the gateway for the caller, unknown to the node, its nonce still free (a
    retry with the write's Idempotency-Key broadcasts it again)."""

    hash: str
    state: TxState
    block_number: int | None = None
    note_ids: list[str] = Field(default_factory=list, description="Notes it touched that you may see")
    reorg: ReorgOut | None = None
    write: WriteOut | None = None
