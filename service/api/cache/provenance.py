"""Rendered parts of provenance answers, kept per gateway process and valid for one version of a
tree.

An answer (`service.api.notes.provenance`) is assembled from three parts, each cached on its own:

- the *path* of a note (its ancestors and holder path), keyed by note id;
- a *page* of its root's tree (the nodes after a cursor, up to a limit, with their events), keyed by
  root id, cursor and limit, so every note of a tree shares the tree's pages;
- the tree's *summary* (counts and amounts by status), keyed by root id.

A part is a function of (a) the tree's indexed state, (b) the root's reference, (c) the member ids
known for the addresses in it, and (d) the clock, through the `overdue` flag derived for active
notes. Every part records all four and is checked against them on every use:

(a) `TreeVersion`: the last event filed under the tree's root — block number, log index and block
    hash. Every change to a note of the tree is an event with that root (the indexer writes notes and
    events in one database transaction), and a block hash names the whole chain before it, so an
    unchanged last event means an unchanged tree; a reorganisation that drops or replaces the block
    changes the hash or the position.
(b) the reference read with the note (one statement with the caller's visibility check).
(c) the addresses that had no member id when the part was rendered are looked up again (a member
    may be onboarded with one later); a part with none is complete.
(d) `ClockWindow`: the overdue flags change only when `now` crosses `maturity + grace` of an active
    node, so the part is valid while `now` stays in [the last crossing before rendering, the next
    one after), for the grace period it was rendered with.

Parts are kept as every caller with full sight (auditor, operator) would see them; what a caller may
see of discount offers is applied when the answer is assembled, per request (`EventPiece`), so one
caller's view is never served to another. The authorisation check is never cached: the caller's
right to see the note is read from SQL on every request before the cache is consulted.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

from service.db.provenance import TreeVersion

MIN_TIME = -(2**63)
MAX_TIME = 2**63 - 1


@dataclass(frozen=True, slots=True)
class ClockWindow:
    """The times `now` for which the derived overdue flags of a part stay as rendered, for the
    grace period `grace`."""

    grace: int
    start: int = MIN_TIME
    end: int = MAX_TIME

    @classmethod
    def around(cls, now: int, grace: int, deadlines: Iterable[int]) -> ClockWindow:
        """The window containing `now` between the overdue `deadlines` (maturity + grace of the
        active notes in the part): the last at or before `now` and the next after it."""
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
class EventPiece:
    """One event of a tree node as JSON. `offer_id` names the discount offer it belongs to (None:
    it belongs to none, every caller sees `json`); a caller who may not see that offer gets
    `hidden` instead: None to leave the event out, or the event without the offer's terms."""

    json: bytes
    offer_id: int | None = None
    hidden: bytes | None = None

    def for_caller(self, sees: frozenset[int] | None) -> bytes | None:
        """The event as a caller seeing the offers `sees` (None: all) gets it (None: left out)."""
        if self.offer_id is None or sees is None or self.offer_id in sees:
            return self.json
        return self.hidden


@dataclass(frozen=True, slots=True)
class NodePiece:
    """One node of a tree page: `head` is its JSON object without the closing brace (it ends with
    `,"events":[`), followed by its events."""

    head: bytes
    events: tuple[EventPiece, ...]

    @property
    def size(self) -> int:
        return len(self.head) + sum(len(e.json) + len(e.hidden or b"") for e in self.events)

    @property
    def offer_ids(self) -> Iterable[int]:
        return (e.offer_id for e in self.events if e.offer_id is not None)


@dataclass(frozen=True, slots=True)
class CachedPart:
    """One rendered part and what it depends on. `body` is the JSON of a path or summary part;
    a page part has its `nodes` and `next_cursor` (the last id on the page when more follow) and
    `root_id` the tree it belongs to."""

    version: TreeVersion
    reference: str | None
    clock: ClockWindow
    unknown_addresses: frozenset[str]
    root_id: int
    body: bytes = b""
    nodes: tuple[NodePiece, ...] = ()
    next_cursor: int | None = None
    size: int = field(default=0, compare=False)

    @classmethod
    def of(
        cls,
        *,
        version: TreeVersion,
        reference: str | None,
        clock: ClockWindow,
        unknown_addresses: Iterable[str],
        root_id: int,
        body: bytes = b"",
        nodes: Iterable[NodePiece] = (),
        next_cursor: int | None = None,
    ) -> CachedPart:
        kept = tuple(nodes)
        size = len(body) + sum(node.size for node in kept)
        return cls(
            version, reference, clock, frozenset(unknown_addresses), root_id, body, kept, next_cursor, size
        )

    def matches(self, version: TreeVersion, reference: str | None, now: int, grace: int) -> bool:
        """Whether the part is still the one to give (apart from `unknown_addresses`, which the
        caller checks against the member directory)."""
        return version == self.version and reference == self.reference and self.clock.holds(now, grace)


class ProvenanceCache:
    """Parts by key, least recently used first out, at most `max_bytes` of rendered JSON in all; a
    part larger than a quarter of that is not kept. `max_bytes` 0 keeps nothing. Thread-safe."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, CachedPart] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def get(self, key: Hashable) -> CachedPart | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: Hashable, entry: CachedPart) -> None:
        size = entry.size
        if size * 4 > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.size
            self._entries[key] = entry
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= dropped.size

    def kept_keys(self) -> list[Hashable]:
        """The keys kept, least recently used first."""
        with self._lock:
            return list(self._entries)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    @property
    def size_bytes(self) -> int:
        with self._lock:
            return self._bytes
