"""Member ids by address (`holder_member` / `obligor_member` of answers)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.api.cache.bounded import BoundedCache
from service.db.gateway_models import ApiMember


class MemberDirectory:
    """Member ids by address, for the `holder_member` / `obligor_member` of notes.

    A gateway member's id and address never change and members are never deleted, so an address
    once found keeps its id: found entries are cached (the `size` most recently used) and only
    addresses not cached are looked up (an address that is nobody's is looked up again next time, since a
    member may be onboarded with it later).
    """

    def __init__(self, size: int = 100_000) -> None:
        self._ids: BoundedCache[str, str] = BoundedCache(size)

    def ids(self, session: Session, addresses: Iterable[str]) -> dict[str, str]:
        wanted = set(addresses)
        found: dict[str, str] = {}
        for address in wanted:
            member_id = self._ids.get(address)
            if member_id is not None:
                found[address] = member_id
        missing = wanted - found.keys()
        if missing:
            rows = session.execute(
                select(ApiMember.address, ApiMember.id).where(ApiMember.address.in_(missing))
            ).all()
            fresh = {str(row[0]): str(row[1]) for row in rows}
            self._ids.update(fresh)
            found.update(fresh)
        return found
