"""Finding where the indexed chain and the node's chain part ways.

The index keeps the hash of every block it applied within the last `keep_blocks` blocks of the
head (and, further back, of the blocks that had events and the batch boundaries). Walking those
from the checkpoint downwards, the first whose hash the node still has is the fork point: every
block above it may have changed, every block at or below it has not (a block's hash commits to all
its ancestors).
"""

from __future__ import annotations

from service.indexer.source import LogSource
from service.indexer.store import IndexStore
from service.ledger.errors import LedgerError

WALK_STEP = 64
"""Stored blocks compared with the chain per round trip."""


class ReorgTooDeep(LedgerError):
    """The chain changed below every block hash the index still keeps; re-index from scratch."""


def find_fork_point(
    store: IndexStore, source: LogSource, last_block: int, from_block: int
) -> tuple[int, str]:
    """(number, hash) of the highest kept block at or below `last_block` that is still on the
    chain; (`from_block - 1`, "") if even the first indexed block changed."""
    below = last_block
    while True:
        stored = store.stored_blocks(below, WALK_STEP)
        if not stored:
            break
        chain = source.get_headers([number for number, _ in stored])
        for number, block_hash in stored:
            header = chain.get(number)
            if header is not None and header.hash == block_hash:
                return number, block_hash
        below = stored[-1][0] - 1
    lowest = store.lowest_stored_block()
    if lowest is None or lowest <= from_block:
        return from_block - 1, ""
    raise ReorgTooDeep(
        f"the chain changed below block {lowest}, the oldest block hash kept; "
        "raise keep_blocks or re-index from the deployment block"
    )
