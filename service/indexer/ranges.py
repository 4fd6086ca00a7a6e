"""How many blocks one eth_getLogs asks for: grown while answers are small, halved when a node refuses
a range (result-size or range limits, timeouts) or answers with too many logs."""

from __future__ import annotations

from dataclasses import dataclass

from service.indexer.source import RpcError


@dataclass
class AdaptiveRange:
    """Block-range size of the next eth_getLogs.

    After a full-size range: fewer than `target_logs / 2` logs doubles the size (up to `maximum`),
    more than `2 * target_logs` halves it. A refused request halves it and is retried; refused at
    `minimum`, the error is raised. After a refusal the size does not grow for `probe_after`
    answered requests (node limits rarely change; a range that was too big because of
    its many logs may be fine later).
    """

    size: int = 1_000
    minimum: int = 1
    maximum: int = 100_000
    target_logs: int = 5_000
    probe_after: int = 16

    def __post_init__(self) -> None:
        if not 1 <= self.minimum <= self.maximum:
            raise ValueError("need 1 <= minimum <= maximum")
        self.size = max(self.minimum, min(self.size, self.maximum))
        self._ceiling = self.maximum
        self._ceiling_ttl = 0

    def succeeded(self, blocks: int, logs: int) -> None:
        """Record an answered request over `blocks` blocks that returned `logs` logs."""
        if self._ceiling_ttl > 0:
            self._ceiling_ttl -= 1
            if self._ceiling_ttl == 0:
                self._ceiling = self.maximum
        if logs > 2 * self.target_logs:
            self.size = max(self.minimum, min(self.size, blocks) // 2)
        elif blocks >= self.size and logs < self.target_logs // 2:
            self.size = max(self.minimum, min(self._ceiling, self.size * 2))

    def failed(self, error: RpcError, blocks: int | None = None) -> None:
        """Record a refused request over `blocks` blocks (default: the full size); raises `error`
        if the range cannot shrink any more."""
        attempted = self.size if blocks is None else min(self.size, blocks)
        if attempted <= self.minimum:
            raise error
        self.size = max(self.minimum, attempted // 2)
        self._ceiling = self.size
        self._ceiling_ttl = self.probe_after
