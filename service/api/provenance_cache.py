"""Rendered provenance answers, kept per gateway process and valid for one version of a note's tree.

A provenance answer is a function of (a) the tree's indexed state, (b) the root's reference, (c) the
member ids known for the addresses in it, and (d) the clock, through the `overdue` flag derived for
active notes. The cache keys an answer by note id and checks all four on every hit:

(a) `TreeVersion`: the last event filed under the tree's root — block number, log index and block
    hash. Every change to a note of the tree is an event with that root (the indexer writes notes and
    events in one database transaction), and a block hash names the whole chain before it, so an
    unchanged last event means an unchanged tree; a reorganisation that drops or replaces the block
    changes the hash or the position.
(b) the reference read with the note (one statement with the caller's visibility check).
(c) the addresses that had no member id when the answer was rendered are looked up again (a member
    may be onboarded with one later); an answer with none is complete.
(d) `ClockWindow`: the overdue flags change only when `now` crosses `maturity + grace` of an active
    node, so the answer is valid while `now` stays in [the last crossing before rendering, the next
    one after), for the grace period it was rendered with.

The authorisation check is never cached: the caller's right to see the note is read from SQL on
every request before the cache is consulted.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from service.db.provenance import TreeVersion

MIN_TIME = -(2**63)
MAX_TIME = 2**63 - 1


@dataclass(frozen=True, slots=True)
class ClockWindow:
    """The times `now` for which the derived overdue flags of an answer stay as rendered, for the
    grace period `grace`."""

    grace: int
    start: int = MIN_TIME
    end: int = MAX_TIME

    @classmethod
    def around(cls, now: int, grace: int, deadlines: Iterable[int]) -> ClockWindow:
        """The window containing `now` between the overdue `deadlines` (maturity + grace of the
        active notes in the answer): the last at or before `now` and the next after it."""
        start, end = MIN_TIME, MAX_TIME
        for deadline in deadlines:
            if deadline <= now:
                start = max(start, deadline)
            else:
                end = min(end, deadline)
        return cls(grace, start, end)

    def holds(self, now: int, grace: int) -> bool:
        return grace == self.grace and self.start <= now < self.end


@dataclass(frozen=True, slots=True)
class CachedProvenance:
    """One rendered answer and what it depends on; `etag` is a strong validator of `body`."""

    version: TreeVersion
    reference: str | None
    clock: ClockWindow
    unknown_addresses: frozenset[str]
    body: bytes
    etag: str

    @classmethod
    def of(
        cls,
        body: bytes,
        *,
        version: TreeVersion,
        reference: str | None,
        clock: ClockWindow,
        unknown_addresses: Iterable[str],
    ) -> CachedProvenance:
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        return cls(version, reference, clock, frozenset(unknown_addresses), body, etag)

    def matches(self, version: TreeVersion, reference: str | None, now: int, grace: int) -> bool:
        """Whether the answer is still the one to give (apart from `unknown_addresses`, which the
        caller checks against the member directory)."""
        return version == self.version and reference == self.reference and self.clock.holds(now, grace)


class ProvenanceCache:
    """Answers by note id, least recently used first out, at most `max_bytes` of bodies in all; an
    answer larger than a quarter of that is not kept. `max_bytes` 0 keeps nothing. Thread-safe."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[int, CachedProvenance] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def get(self, note_id: int) -> CachedProvenance | None:
        with self._lock:
            entry = self._entries.get(note_id)
            if entry is not None:
                self._entries.move_to_end(note_id)
            return entry

    def put(self, note_id: int, entry: CachedProvenance) -> None:
        size = len(entry.body)
        if size * 4 > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(note_id, None)
            if old is not None:
                self._bytes -= len(old.body)
            self._entries[note_id] = entry
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= len(dropped.body)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    @property
    def size_bytes(self) -> int:
        with self._lock:
            return self._bytes
