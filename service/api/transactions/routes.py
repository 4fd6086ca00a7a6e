"""GET /v1/transactions/{hash}: how any authenticated member follows a transaction (e.g. the one
of a write answered `202 Accepted`): pending, mined, indexed, failed, reverted by a reorganisation,
dropped. Node errors answer 503 (the ledger client's mapping); a malformed hash 422; a hash neither
the node nor the gateway knows 404 `transaction-not-found`."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import Context, CurrentMember
from service.api.transactions.queries import parse_tx_hash, transaction_fate
from service.api.transactions.schemas import TransactionOut

router = APIRouter(prefix="/v1/transactions", tags=["transactions"])


@router.get("/{tx_hash}", response_model=TransactionOut)
def get_transaction(tx_hash: str, context: Context, member: CurrentMember) -> TransactionOut:
    """The fate of the transaction `tx_hash` (0x and 64 hex digits)."""
    wanted = parse_tx_hash(tx_hash)
    return transaction_fate(context, member, wanted)
