"""Members by address (`holder_member` / `obligor_member` and the `*_name` fields of answers)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.api.cache.bounded import BoundedCache
from service.db.gateway_models import ApiMember


@dataclass(frozen=True, slots=True)
class MemberRef:
    """A gateway member's id and display name."""

    id: str
    name: str


class MemberDirectory:
    """Member ids and names by address, for the `holder_member` / `obligor_member` (and
    `holder_name` / `obligor_name`) of notes and the names in other answers.

    A gateway member's id, name and address never change and members are never deleted, so an
    address once found keeps its entry: found entries are cached (the `size` most recently used) and
    only addresses not cached are looked up, in one statement per call (an address that is nobody's
    is looked up again next time, since a member may be onboarded with it later).
    """

    def __init__(self, size: int = 100_000) -> None:
        self._refs: BoundedCache[str, MemberRef] = BoundedCache(size)

    def find(self, session: Session, addresses: Iterable[str]) -> dict[str, MemberRef]:
        """The members of those of `addresses` that are a gateway member's."""
        wanted = set(addresses)
        found: dict[str, MemberRef] = {}
        for address in wanted:
            ref = self._refs.get(address)
            if ref is not None:
                found[address] = ref
        missing = wanted - found.keys()
        if missing:
            rows = session.execute(
                select(ApiMember.address, ApiMember.id, ApiMember.name).where(ApiMember.address.in_(missing))
            ).all()
            fresh = {str(row[0]): MemberRef(str(row[1]), str(row[2])) for row in rows}
            self._refs.update(fresh)
            found.update(fresh)
        return found

    def ids(self, session: Session, addresses: Iterable[str]) -> dict[str, str]:
        """Member ids of those of `addresses` that are a gateway member's."""
        return {address: ref.id for address, ref in self.find(session, addresses).items()}
