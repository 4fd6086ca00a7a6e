"""What `IndexStore.apply_batch` hands its batch hooks (here, not in `service.indexer.store`, so the
hooks, e.g. `service.events.derive`, can be imported by the store without a cycle)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from service.indexer.decode import DecodedLog
from service.indexer.state import StateBatch


@dataclass(frozen=True)
class AppliedBatch:
    """What `IndexStore.apply_batch` applied: the decoded events of blocks `first_block..last_block`
    (block times by number) and the state batch that applied them, whose entity maps hold every row
    the batch touched as it is after the batch (`state.notes`, `state.members`, ...)."""

    contract: str
    events: Sequence[DecodedLog]
    block_times: dict[int, int]
    first_block: int
    last_block: int
    state: StateBatch


BatchHook = Callable[[Connection, AppliedBatch], None]
"""Called by `IndexStore.apply_batch` inside the batch's transaction, after the index's tables were
written and before the checkpoint moves (e.g. the domain event log: `service.events.derive`)."""
