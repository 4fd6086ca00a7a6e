"""API key hash -> the member it belonged to when last looked up (a hint re-checked in SQL)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from service.domain import MemberStatus


@dataclass(frozen=True, slots=True)
class Caller:
    """The member an API key belonged to when it was last looked up: id, address, its roles as
    stored (comma-separated) and its registry status as indexed (`service.domain.MemberStatus`,
    0 if not in the registry, like the operator)."""

    id: str
    address: str
    roles: str
    status: int = 0

    @property
    def suspended(self) -> bool:
        return self.status == MemberStatus.SUSPENDED

    @property
    def role_names(self) -> list[str]:
        return [r for r in self.roles.split(",") if r]


class CallerCache:
    """API key hash -> `Caller`, at most `size` entries (least recently used dropped first).

    An entry is a hint, never a proof: a read that uses one checks, in the same SQL statement, that
    the key still belongs to that member with the same address, roles and registry status
    (`service.api.notes.queries`), and drops the entry otherwise: a suspension indexed by any process
    takes effect on the next request. So a key replaced by `credchain keys issue` in another process
    stops working at once. Only keys that were found are cached, so unknown keys cannot fill it.
    """

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._entries: OrderedDict[str, Caller] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key_hash: str) -> Caller | None:
        with self._lock:
            caller = self._entries.get(key_hash)
            if caller is not None:
                self._entries.move_to_end(key_hash)
            return caller

    def put(self, key_hash: str, caller: Caller) -> None:
        with self._lock:
            self._entries[key_hash] = caller
            self._entries.move_to_end(key_hash)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def drop(self, key_hash: str) -> None:
        with self._lock:
            self._entries.pop(key_hash, None)
